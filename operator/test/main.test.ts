import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const run = (env: Record<string, string>) =>
  spawnSync(process.execPath, [main], {
    env: { PATH: process.env.PATH, METRICS_PORT: '0', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });

describe('the operator process', () => {
  it('stops with exit code 2 naming a bad variable', () => {
    const result = run({ KUBECONFIG: '/nonexistent', MAX_CONCURRENT_RECONCILES: 'many' });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('operator: invalid configuration');
    expect(result.stderr).toContain('MAX_CONCURRENT_RECONCILES');
  });

  it('stops with exit code 2 and one log line, not a stack trace, on a kubeconfig it cannot use', () => {
    const result = run({ KUBECONFIG: '/nonexistent' });
    expect(result.status).toBe(2);
    const fatal = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: string; msg: string; reason?: string })
      .find((line) => line.level === 'fatal');
    expect(fatal).toMatchObject({ msg: 'invalid configuration' });
    expect(fatal?.reason).toMatch(/^kubeconfig \/nonexistent: ENOENT/);
    expect(result.stderr).not.toMatch(/^\s+at /m);
  });
});
