// Watches a test run (or `cluster:up`) that started a real node: when that
// process dies, however it dies, the node's leftovers are removed.
// Usage: node watchdog.ts <parent-pid> <leftovers as JSON>
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanupNode, type NodeLeftovers } from './cleanup.ts';

const [parent, spec] = process.argv.slice(2);
const parentPid = Number(parent);
const leftovers = JSON.parse(spec ?? '{}') as NodeLeftovers;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

process.on('SIGTERM', () => process.exit(0)); // the node stopped cleanly and said so
while (alive(parentPid)) await sleep(500);
// The node's own processes have wardens of their own; give them a moment to stop.
await sleep(1500);
cleanupNode(leftovers);
