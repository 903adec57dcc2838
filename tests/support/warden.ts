// Watches a test run's process and a server it started: when the test run
// dies, however it dies, the server is stopped and its directories removed.
// Usage: node warden.ts <parent-pid> <child-pid> <stop-signal> [dir...]
import { rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { alive } from './alive.ts';

const [parent, child, signal = 'SIGTERM', ...dirs] = process.argv.slice(2);
const parentPid = Number(parent);
const childPid = Number(child);

while (alive(childPid) && alive(parentPid)) await sleep(500);

if (alive(childPid)) {
  process.kill(childPid, signal as NodeJS.Signals);
  for (let waited = 0; waited < 10_000 && alive(childPid); waited += 200) await sleep(200);
  if (alive(childPid)) process.kill(childPid, 'SIGKILL');
  await sleep(200);
}
for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
