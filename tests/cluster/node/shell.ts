import { spawnSync } from 'node:child_process';

/** Runs a command to completion and returns its standard output; throws with its error output. */
export function run(command: string, args: string[], options: { input?: string } = {}): string {
  const result = spawnSync(command, args, { encoding: 'utf8', input: options.input });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0)
    throw new Error(
      `${command} ${args.join(' ')} exited with ${result.status}: ${result.stderr.trim()}`,
    );
  return result.stdout;
}

/** Like `run`, for clean-up steps: failures are returned, never thrown. */
export function tryRun(command: string, args: string[]): { ok: boolean; output: string } {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}
