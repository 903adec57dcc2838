import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const wardenScript = fileURLToPath(new URL('./warden.ts', import.meta.url));

/** A free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

export interface RestartOptions {
  downMs?: number;
  whileDown?: () => Promise<void>;
}

/** A server process the test run owns, with the files it must leave nothing of. */
export interface Guarded {
  readonly child: ChildProcess;
  readonly name: string;
  /** Stops the process (SIGTERM, then SIGKILL) and removes its directories. */
  stop(): Promise<void>;
  /**
   * Stops the process but keeps its directories, waits `downMs` and for
   * `whileDown` (what a test does meanwhile), and starts it again with the
   * same command, arguments and guard: a server restart.
   */
  restart(options?: RestartOptions): Promise<Guarded>;
  /**
   * Stops the process and its children where they stand (SIGSTOP): a server
   * that keeps its connections open and stops answering. The function
   * returned lets them go on.
   */
  freeze(): () => void;
}

/**
 * Starts a process that cannot outlive the test run: a detached warden stops
 * it and removes its directories when this process dies, even by SIGKILL.
 */
export function spawnGuarded(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions & { cleanup?: string[]; stopSignal?: NodeJS.Signals } = {},
): Guarded {
  const { cleanup = [], stopSignal = 'SIGTERM', ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOptions });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 200) output.shift();
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.on('error', (error) => output.push(String(error)));
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);

  const warden = spawn(
    process.execPath,
    [wardenScript, String(process.pid), String(child.pid), stopSignal, ...cleanup],
    { detached: true, stdio: 'ignore' },
  );
  warden.unref();

  const exited = once(child, 'exit');
  let stopping: Promise<void> | undefined;
  const halt = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(stopSignal);
    const killed = await Promise.race([exited.then(() => true), sleep(10_000, false)]);
    if (!killed) {
      child.kill('SIGKILL');
      await exited;
    }
  };
  const guarded: Guarded & { output: string[] } = {
    child,
    name,
    output,
    stop() {
      stopping ??= (async () => {
        await halt();
        await Promise.all(cleanup.map((dir) => rm(dir, { recursive: true, force: true })));
      })();
      return stopping;
    },
    freeze() {
      const pids = [child.pid as number, ...childrenOf(child.pid as number)];
      for (const pid of pids) process.kill(pid, 'SIGSTOP');
      return () => {
        for (const pid of pids) process.kill(pid, 'SIGCONT');
      };
    },
    async restart({ downMs = 0, whileDown } = {}) {
      // The warden would remove the directories once the process is gone: it goes first.
      try {
        if (warden.pid !== undefined) process.kill(warden.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await halt();
      await sleep(downMs);
      await whileDown?.();
      return spawnGuarded(name, command, args, options);
    },
  };
  return guarded;
}

/** The processes `pid` started (Linux). */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

/** The last lines a guarded process printed, for error messages. */
export function recentOutput(process: Guarded): string {
  return ((process as Guarded & { output?: string[] }).output ?? []).join('').slice(-4000);
}

/** Rejects when `work` has not settled after `ms`: a stalled call is a failure, not a hang. */
export async function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value, failing with the process's output. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  {
    timeoutMs = 30_000,
    intervalMs = 100,
    process,
  }: { timeoutMs?: number; intervalMs?: number; process?: Guarded } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (process && process.child.exitCode !== null) {
      throw new Error(
        `${process.name} exited with code ${process.child.exitCode} while waiting for ${what}:\n${recentOutput(process)}`,
      );
    }
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  const detail = process ? `\n${process.name} said:\n${recentOutput(process)}` : '';
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}: ${String(lastError ?? '')}${detail}`,
  );
}

/** The uid and gid of a system user, for servers that refuse to run as root. */
export function systemUser(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
