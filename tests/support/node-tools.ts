import { spawnSync } from 'node:child_process';
import { inject } from 'vitest';

/** What a command printed and how it ended. */
export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], input?: string): Ran {
  const result = spawnSync(command, args, { encoding: 'utf8', input, timeout: 300_000 });
  return { status: result.status, stdout: result.stdout ?? '', stderr: result.stderr ?? '' };
}

/** Throws with the command's output unless it succeeded; returns its standard output. */
export function ok(result: Ran): string {
  if (result.status !== 0)
    throw new Error(`exit ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** kubectl against the test cluster, as a user would run it. */
export function kubectl(args: string[], input?: string): Ran {
  return run(inject('kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], input);
}

/** helm against the test cluster. */
export function helm(args: string[]): Ran {
  return run(inject('helm'), ['--kubeconfig', inject('kubeconfig'), ...args]);
}

/** `kubectl get -o json`, parsed. */
export function getJson<T = Record<string, unknown>>(args: string[]): T {
  return JSON.parse(ok(kubectl(['get', ...args, '-o', 'json']))) as T;
}

/** An HTTP GET from inside the real node's network, where Service addresses answer (as from any pod there). */
export function fetchInNode(url: string): { status: number; body: string } {
  const result = run('nsenter', [
    `--net=/run/netns/${inject('nodeNetns')}`,
    '--',
    'curl',
    '--silent',
    '--max-time',
    '2',
    '--write-out',
    '\n%{http_code}',
    url,
  ]);
  const lines = result.stdout.split('\n');
  const status = Number(lines.pop());
  return { status, body: lines.join('\n') };
}
