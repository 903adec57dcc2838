import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Where podman reads its system-wide engine configuration. */
export const CONTAINERS_CONF = '/etc/containers/containers.conf';

// Why each setting is needed on these machines (they lack CAP_SYS_RESOURCE and
// run hybrid cgroups v1):
// - default_ulimits: podman's default rlimits ask for more open files than the
//   hard limit (20000) root may set here, so every container would fail to start.
// - runtime = "runc": crun 1.8 refuses hybrid cgroups; runc runs there.
const SETTINGS = {
  default_ulimits: '["nofile=20000:20000","nproc=32768:32768"]',
  runtime: '"runc"',
} as const;

/**
 * Returns the containers.conf text with our settings in their sections, leaving
 * everything else as it was; the same text when they are already there.
 */
export function withOurSettings(text: string): string {
  let result = text;
  const wanted: Array<[section: string, key: keyof typeof SETTINGS]> = [
    ['containers', 'default_ulimits'],
    ['engine', 'runtime'],
  ];
  for (const [section, key] of wanted) {
    const line = `${key} = ${SETTINGS[key]}`;
    const lines = result.split('\n');
    const header = lines.findIndex((entry) => entry.trim() === `[${section}]`);
    if (header === -1) {
      result = `${result.trimEnd()}${result.trim() ? '\n\n' : ''}[${section}]\n${line}\n`;
      continue;
    }
    const next = lines.findIndex((entry, index) => index > header && /^\s*\[/.test(entry));
    const end = next === -1 ? lines.length : next;
    const existing = lines.findIndex(
      (entry, index) => index > header && index < end && new RegExp(`^\\s*${key}\\s*=`).test(entry),
    );
    if (existing !== -1) lines[existing] = line;
    else lines.splice(header + 1, 0, line);
    result = lines.join('\n');
  }
  return result;
}

/** Writes our settings into the system-wide containers.conf when they are missing; idempotent. */
export function ensureContainersConf(path = CONTAINERS_CONF): 'unchanged' | 'written' {
  const before = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const after = withOurSettings(before);
  if (after === before) return 'unchanged';
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, after);
  return 'written';
}
