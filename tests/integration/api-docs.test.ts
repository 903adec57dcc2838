import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  deriveIdentity,
  generatePassword,
  PostgresProvisioner,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
} from '@tse/adapter';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cachedBinary } from '../cluster/binaries.ts';
import { type Cluster, startCluster } from '../cluster/control-plane.ts';
import { fencedBlocks, shellBlocks } from '../support/doc-blocks.ts';
import { type EngineProcess, newToken, startEngineProcess } from '../support/engine-process.ts';
import { useDatabase, withCredentials } from '../support/fixtures.ts';

// docs/api.md promises that every one of its ```sh blocks runs as written.
// This test runs them all, in order, in one bash session with
// `set -euo pipefail`, and checks what each one prints.
//
// The only substitutions in the blocks' text: `localhost:8083` becomes the
// HTTP port and `localhost:50053` the gRPC port of an engine this test
// starts (tests/support/engine-process.ts) on real PostgreSQL and Redis, with
// a tenant provisioned for it as the operator would.
//
// Not run: the ```console `kubectl port-forward`, which needs a pod; the
// engine runs here as a process, which is what the port substitution stands for.
//
// The kubectl lines run for real, against a real kube-apiserver (etcd and
// kube-apiserver, API only, from tests/cluster/control-plane.ts). The Secret
// they read, `alpha-credentials` in `trading`, is created by this test with
// kubectl, holding the tokens the engine runs with, as the operator issues it.
// Environment, not text: PATH gets kubectl and grpcurl from the build cache,
// KUBECONFIG names the cluster, and the blocks run in a fresh directory.
const page = readFileSync(fileURLToPath(new URL('../../docs/api.md', import.meta.url)), 'utf8');

/** The page's blocks of a language, in order. */
function blocks(language: string): string[] {
  return fencedBlocks(page)
    .filter((block) => block.language === language)
    .map((block) => block.text);
}

const database = useDatabase();
const tokens = { trade: newToken(), read: newToken() };
let cluster: Cluster;
let engine: EngineProcess;
let kubectl: string;

beforeAll(async () => {
  const identity = deriveIdentity({ instanceName: 'trading-system-engine-alpha' });
  const password = generatePassword();
  const postgres = new PostgresProvisioner(database.url);
  const redis = new RedisProvisioner(inject('redisUrl'));
  try {
    await postgres.ensure(postgresTenant(identity, { password, database: database.name }));
    await redis.ensure(redisTenant(identity, { password }));
  } finally {
    await Promise.all([postgres.close(), redis.close()]);
  }
  const redisUrl = new URL(inject('redisUrl'));
  engine = await startEngineProcess({
    SERVICE_INSTANCE_NAME: identity.instanceName,
    POSTGRES_SCHEMA: identity.postgresSchema,
    REDIS_NAMESPACE: identity.redisNamespace,
    POSTGRES_URL: withCredentials(database.url, identity.postgresSchema, password),
    REDIS_URL: withCredentials(redisUrl.toString(), identity.redisNamespace, password),
    API_TOKEN: tokens.trade,
    API_READ_TOKEN: tokens.read,
  });

  cluster = await startCluster({ apiOnly: true });
  kubectl = cluster.binaries?.kubectl ?? cachedBinary('kubectl');
  const run = (...args: string[]) => {
    const result = spawnSync(kubectl, ['--kubeconfig', cluster.kubeconfig, ...args], {
      encoding: 'utf8',
    });
    if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${result.stderr}`);
  };
  run('create', 'namespace', 'trading');
  run(
    'create',
    'secret',
    'generic',
    'alpha-credentials',
    '-n',
    'trading',
    `--from-literal=api-token=${tokens.trade}`,
    `--from-literal=api-read-token=${tokens.read}`,
  );
}, 180_000);

afterAll(async () => {
  if (engine?.process.child.exitCode === null) await engine.signal('SIGTERM');
  await cluster?.stop();
});

const MARK = '@@block';

describe('docs/api.md', () => {
  it('runs every sh block as written, each printing what the page says', async () => {
    const shell = shellBlocks(page);
    expect(shell.length).toBeGreaterThanOrEqual(9);
    const port = (url: string) => new URL(url).port;
    const script = [
      'set -euo pipefail',
      ...shell.flatMap((block, index) => [
        `printf '\\n${MARK} %d\\n' ${index}`,
        block
          .replaceAll('localhost:8083', `127.0.0.1:${port(engine.url)}`)
          .replaceAll('localhost:50053', `127.0.0.1:${engine.grpcPort}`),
      ]),
      `printf '\\n${MARK} end\\n'`,
    ].join('\n');
    const path = [dirname(kubectl), dirname(cachedBinary('grpcurl')), process.env.PATH].join(':');
    const result = spawnSync('bash', ['-c', script], {
      cwd: mkdtempSync(join(tmpdir(), 'tse-api-docs-')),
      encoding: 'utf8',
      env: { PATH: path, HOME: process.env.HOME, KUBECONFIG: cluster.kubeconfig },
      timeout: 60_000,
    });
    const outputs = result.stdout.split(new RegExp(`\\n${MARK} \\S+\\n`)).slice(1);
    expect(result.stderr, `stdout:\n${result.stdout}`).toBe('');
    expect(result.status).toBe(0);
    expect(outputs).toHaveLength(shell.length + 1);
    const [secret, health, order, listing, refused, openapi, reflection, calls, grpcHealth] =
      outputs;

    // The kubectl lines only set variables; the tokens they read are proven by
    // the blocks below, which --fail-with-body unless each is accepted.
    expect(shell[0]).toContain('kubectl get secret "$NAME-credentials"');
    expect(secret).toBe('');

    expect(JSON.parse(health ?? '')).toMatchObject({
      status: 'healthy',
      dependencies: { postgres: { status: 'up' }, redis: { status: 'up' } },
    });

    const [price, placed] = (order ?? '').split(/(?<=\})(?=\{)/).map((text) => JSON.parse(text));
    expect(price).toMatchObject({ instrument_id: 'BTC-USD', price: '64000' });
    expect(placed).toMatchObject({ instrument_id: 'BTC-USD', side: 'buy', status: 'filled' });

    const listed = JSON.parse(listing ?? '') as { orders: { order_id: string }[] };
    expect(listed.orders.map((row) => row.order_id)).toEqual([placed.order_id]);

    // The refusal prints exactly the text block after it, and nothing was done.
    const [shown] = blocks('text');
    expect(refused?.trim()).toBe(shown?.trim());
    // The engine holds the two buys the page places (over HTTP and gRPC), no sell.
    const held = (await engine.get('/api/v1/orders')).body.orders as { side: string }[];
    expect(held.map((row) => row.side)).toEqual(['buy', 'buy']);

    expect(openapi?.trim()).toBe('"openapi":"3.1.0"');

    const [list, ...described] = (reflection ?? '').split(/\n(?=\S+ is a (service|message):)/);
    expect(list?.trim().split('\n')).toEqual([
      'grpc.health.v1.Health',
      'grpc.reflection.v1.ServerReflection',
      'tse.engine.v1.Instance',
      'tse.engine.v1.Trading',
    ]);
    expect(described.join('\n')).toMatch(/service Trading \{[\s\S]*rpc PlaceOrder/);
    expect(described.join('\n')).toMatch(/message PlaceOrderRequest \{[\s\S]*string quantity/);

    const [grpcPlaced, grpcListed] = (calls ?? '')
      .split(/(?<=^\})\n(?=\{)/m)
      .map((text) => JSON.parse(text));
    expect(grpcPlaced).toMatchObject({ quantity: '0.25', status: 'filled' });
    expect(grpcListed.orders).toHaveLength(2);

    expect(grpcHealth?.match(/"status": "SERVING"/g)).toHaveLength(2);
  });
});
