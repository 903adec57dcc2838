// npm run cluster:up    starts the local control plane in the background: etcd,
//                       the API server, controllers, scheduler, KWOK nodes, one
//                       real node (containerd + kubelet + kube-proxy) and the
//                       PostgreSQL and Redis pods can reach. Prints their admin
//                       URLs as seen from inside the cluster, then
//                       KUBECONFIG=<path> as its last line.
//                       `-- --no-real-node` starts only the fake nodes.
// npm run cluster:down  stops it and removes its files
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { alive } from '../support/alive.ts';
import { startCluster } from './control-plane.ts';
import { loadBuiltImages } from './node/images.ts';
import { startClusterStores } from './stores.ts';

// TSE_CLUSTER_DIR keeps a second local cluster apart from the default one.
const stateDir =
  process.env.TSE_CLUSTER_DIR ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'tse', 'cluster');
const stateFile = join(stateDir, 'state.json');
const logFile = join(stateDir, 'cluster.log');

interface State {
  pid: number;
  kubeconfig: string;
  /** KEY=value lines for users: the stores' admin URLs as pods reach them. */
  exports: string[];
}

function readState(): State | undefined {
  if (!existsSync(stateFile)) return undefined;
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as State;
  return alive(state.pid) ? state : undefined;
}

async function up(): Promise<number> {
  const running = readState();
  if (running) {
    console.log(`the local control plane is already running (pid ${running.pid})`);
    for (const line of running.exports) console.log(line);
    console.log(`KUBECONFIG=${running.kubeconfig}`);
    return 0;
  }
  mkdirSync(stateDir, { recursive: true });
  rmSync(stateFile, { force: true });
  const log = openSync(logFile, 'w');
  const server = spawn(
    process.execPath,
    [fileURLToPath(import.meta.url), 'serve', ...process.argv.slice(3)],
    {
      detached: true,
      stdio: ['ignore', log, log],
    },
  );
  server.unref();
  console.log(`starting the local control plane (log: ${logFile})`);
  for (let waited = 0; waited < 300_000; waited += 250) {
    const state = readState();
    if (state) {
      console.log(readFileSync(logFile, 'utf8').trim());
      for (const line of state.exports) console.log(line);
      console.log(`KUBECONFIG=${state.kubeconfig}`);
      return 0;
    }
    if (server.exitCode !== null || (server.pid !== undefined && !alive(server.pid))) break;
    await sleep(250);
  }
  console.error(`the local control plane did not start:\n${readFileSync(logFile, 'utf8')}`);
  return 1;
}

async function serve(realNode: boolean): Promise<void> {
  const log = (line: string) => console.log(line);
  const cluster = await startCluster({ dir: join(stateDir, 'run'), realNode, log });
  const stopping: { stop(): Promise<void> }[] = [cluster];
  const exports: string[] = [];
  if (cluster.node) {
    const stores = await startClusterStores(cluster.node.network);
    stopping.unshift(stores.postgres, stores.redis);
    for (const image of loadBuiltImages(cluster.node))
      log(`image ${image} loaded on the real node`);
    exports.push(
      `POSTGRES_ADMIN_URL=${stores.postgres.inClusterUrl}`,
      `REDIS_ADMIN_URL=${stores.redis.inClusterUrl}`,
    );
  }
  writeFileSync(
    stateFile,
    JSON.stringify({ pid: process.pid, kubeconfig: cluster.kubeconfig, exports } satisfies State),
  );
  const shutdown = async () => {
    for (const part of stopping) await part.stop();
    rmSync(stateFile, { force: true });
    process.exit(0);
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  setInterval(() => {}, 1 << 30);
}

async function down(): Promise<number> {
  const state = readState();
  if (!state) {
    rmSync(stateFile, { force: true });
    console.log('the local control plane is not running');
    return 0;
  }
  process.kill(state.pid, 'SIGTERM');
  for (let waited = 0; waited < 30_000 && alive(state.pid); waited += 100) await sleep(100);
  if (alive(state.pid)) process.kill(state.pid, 'SIGKILL');
  rmSync(stateFile, { force: true });
  console.log('the local control plane is stopped');
  return 0;
}

const command = process.argv[2];
if (command === 'up') process.exitCode = await up();
else if (command === 'down') process.exitCode = await down();
else if (command === 'serve') await serve(!process.argv.includes('--no-real-node'));
else {
  console.error('usage: cluster.ts up|down');
  process.exitCode = 2;
}
