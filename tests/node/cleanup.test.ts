// A local cluster with a real node leaves nothing on the host when it stops,
// whether it is told to (cluster:down) or killed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { SANDBOX_IMAGE } from '../cluster/node/sandbox-image.ts';
import { waitFor } from '../support/processes.ts';

const cli = fileURLToPath(new URL('../cluster/cli.ts', import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const sh = (command: string, args: string[]) =>
  spawnSync(command, args, { encoding: 'utf8' }).stdout ?? '';

/** What a real node could leave on the host: namespaces, links, routes, cgroups, mounts, processes, host iptables chains. */
function hostState(stateDir: string) {
  const mine = (text: string) => text.includes(stateDir);
  const processes = readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && Number(entry) !== process.pid)
    .flatMap((pid) => {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        return mine(command) ? [command.slice(0, 120)] : [];
      } catch {
        return [];
      }
    });
  return {
    namespaces: sh('ip', ['netns', 'list']).split('\n').filter(Boolean).sort(),
    links: sh('ip', ['-o', 'link'])
      .split('\n')
      .map((line) => line.split(':')[1]?.trim())
      .filter(Boolean)
      .sort(),
    routes: sh('ip', ['route']).split('\n').filter(Boolean).sort(),
    cgroups: readdirSync('/sys/fs/cgroup/memory')
      .filter((name) => name.startsWith('tse-node-'))
      .sort(),
    iptables: sh('iptables-save', [])
      .split('\n')
      .filter((line) => line.startsWith(':'))
      .map((line) => line.split(' ')[0])
      .sort(),
    mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(mine),
    processes,
  };
}

function clusterUp(stateDir: string) {
  const up = spawnSync(process.execPath, [cli, 'up'], {
    encoding: 'utf8',
    env: { ...process.env, TSE_CLUSTER_DIR: stateDir },
    timeout: 300_000,
  });
  expect(up.status, up.stdout + up.stderr).toBe(0);
  const lines = up.stdout.trim().split('\n');
  expect(lines.at(-3)).toMatch(
    /^POSTGRES_ADMIN_URL=postgres:\/\/postgres:[^@]+@10\.213\.\d+\.1:\d+\/postgres$/,
  );
  expect(lines.at(-2)).toMatch(/^REDIS_ADMIN_URL=redis:\/\/default:[^@]+@10\.213\.\d+\.1:\d+$/);
  expect(lines.at(-1)).toMatch(/^KUBECONFIG=/);
  const kubeconfig = lines.at(-1)?.slice('KUBECONFIG='.length) ?? '';
  const kubectl = (...args: string[]) =>
    spawnSync(inject('kubectl'), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' });
  return {
    kubeconfig,
    kubectl,
    pid: JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')).pid as number,
  };
}

async function runAPod(
  kubectl: (...args: string[]) => { status: number | null; stdout: string; stderr: string },
) {
  const node = JSON.parse(kubectl('get', 'node', 'tse-node', '-o', 'json').stdout);
  expect(node.status.nodeInfo.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  const created = kubectl(
    'run',
    'sleeper',
    `--image=${SANDBOX_IMAGE}`,
    '--restart=Never',
    '--image-pull-policy=Never',
  );
  expect(created.status, created.stderr).toBe(0);
  await waitFor(
    'a pod to run on the real node',
    async () =>
      kubectl('get', 'pod', 'sleeper', '-o', 'jsonpath={.status.phase}').stdout === 'Running'
        ? true
        : undefined,
    { timeoutMs: 60_000, intervalMs: 500 },
  );
}

describe('a local cluster with a real node', () => {
  it.each(['cluster:down', 'SIGKILL'])('leaves nothing behind when stopped by %s', async (how) => {
    const stateDir = mkdtempSync(join(tmpdir(), 'tse-cleanup-'));
    dirs.push(stateDir);
    const before = hostState(stateDir);
    const { kubectl, pid } = clusterUp(stateDir);
    await runAPod(kubectl);
    expect(hostState(stateDir).processes.length).toBeGreaterThan(0);
    if (how === 'cluster:down') {
      const down = spawnSync(process.execPath, [cli, 'down'], {
        encoding: 'utf8',
        env: { ...process.env, TSE_CLUSTER_DIR: stateDir },
      });
      expect(down.status, down.stderr).toBe(0);
    } else {
      process.kill(pid, 'SIGKILL');
    }
    const after = await waitFor(
      'every leftover to be gone',
      async () => {
        const state = hostState(stateDir);
        return JSON.stringify(state) === JSON.stringify(before) ? state : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    ).catch(() => hostState(stateDir));
    expect(after).toEqual(before);
  });
});
