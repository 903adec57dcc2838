// Watches a test run (or `cluster:up`) that started a real node: when that
// process dies, however it dies, the node's leftovers are removed.
// Usage: node watchdog.ts <parent-pid> <leftovers as JSON>
import { setTimeout as sleep } from 'node:timers/promises';
import { alive } from '../../support/alive.ts';
import { cleanupNode, type NodeLeftovers } from './cleanup.ts';

const [parent, spec] = process.argv.slice(2);
const parentPid = Number(parent);
const leftovers = JSON.parse(spec ?? '{}') as NodeLeftovers;

process.on('SIGTERM', () => process.exit(0)); // the node stopped cleanly and said so
while (alive(parentPid)) await sleep(500);
// The node's own processes have wardens of their own; give them a moment to stop.
await sleep(1500);
cleanupNode(leftovers);
