import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** True when a process with this ID is running. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `work` while holding the cache directory's build lock, so two builds on
 * one machine (they share podman's storage, the tags and the archives) take
 * turns; a lock whose process died is taken over.
 */
export async function withBuildLock<T>(
  cache: string,
  work: () => Promise<T>,
  { timeoutMs = 15 * 60_000, onWait = (_pid: number) => {} } = {},
): Promise<T> {
  mkdirSync(cache, { recursive: true });
  const lock = join(cache, 'build.lock');
  const deadline = Date.now() + timeoutMs;
  let told = false;
  for (;;) {
    try {
      writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(readFileSync(lock, 'utf8').trim());
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      rmSync(lock, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`another build (pid ${holder}) holds ${lock}`);
    if (!told) onWait(holder);
    told = true;
    await sleep(1000);
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { force: true });
  }
}
