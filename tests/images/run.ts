import { spawn } from 'node:child_process';

/** What a finished command printed. */
export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Thrown when a command exits non-zero; carries the tail of what it said. */
export class CommandError extends Error {
  readonly status: number | null;
  constructor(command: string, status: number | null, output: string) {
    super(`${command} exited with ${status}:\n${output.slice(-4000)}`);
    this.status = status;
  }
}

/** Thrown when a tool the build needs is not installed. */
export class MissingToolError extends Error {}

/**
 * Runs a command to completion; its output is kept (and shown on failure) or,
 * with `echo`, also copied to our stderr so long builds show progress.
 */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; echo?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout.push(chunk);
      if (options.echo) process.stderr.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr.push(chunk);
      if (options.echo) process.stderr.write(chunk);
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') return reject(error);
      const hint = 'bash .ci/setup installs the Debian packages the images need';
      reject(new MissingToolError(`${command} is not installed (${hint})`, { cause: error }));
    });
    child.on('close', (status) => {
      const result = {
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
      };
      if (status === 0) resolve(result);
      else {
        const shown = `${command} ${args.join(' ')}`;
        reject(new CommandError(shown, status, `${result.stdout}\n${result.stderr}`));
      }
    });
  });
}
