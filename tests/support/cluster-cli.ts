import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { expect, inject } from 'vitest';
import { cachedBinary } from '../cluster/binaries.ts';

/** Runs a command with the test cluster as its KUBECONFIG. */
export function run(command: string, args: string[], input?: string): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    input,
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
  });
}

/** helm from the binary cache, against the test cluster. */
export const helm = (...args: string[]) => run(cachedBinary('helm'), args);

/** kubectl against the test cluster, as a user would run it. */
export const kubectl = (args: string[], input?: string) =>
  run(inject('kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], input);

/** Expects a command to have succeeded without an error line; returns its output. */
export const ok = (result: SpawnSyncReturns<string>) => {
  expect(result.stderr + result.stdout).not.toMatch(/^Error/m);
  expect(result.status).toBe(0);
  return result.stdout;
};
