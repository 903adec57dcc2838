import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { Redis } from 'ioredis';
import type { StoreServer } from './postgres.ts';
import { freePort, spawnGuarded, waitFor } from './processes.ts';

/** The path of a local `redis-server` binary, if any: TEST_REDIS_SERVER when set, else PATH. */
export function findRedisServer(): string | undefined {
  const chosen = process.env.TEST_REDIS_SERVER;
  if (chosen) return existsSync(chosen) ? chosen : undefined;
  return (process.env.PATH ?? '')
    .split(delimiter)
    .concat('/usr/bin', '/usr/local/bin')
    .map((dir) => join(dir, 'redis-server'))
    .find((path) => existsSync(path));
}

/**
 * Starts a throw-away Redis on a free loopback port with a password on the
 * default user, no persistence, in a temporary directory. With `tls`, the
 * port speaks TLS only (the URL is rediss://, verified against `tls.ca`).
 */
export async function startLocalRedis(
  binary: string,
  options: {
    port?: number;
    password?: string;
    alsoListen?: { address: string };
    /** PEM files: the server's certificate and key, and the CA that signed them. */
    tls?: { cert: string; key: string; ca: string };
  } = {},
): Promise<StoreServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tse-redis-'));
  const password = options.password ?? randomBytes(12).toString('hex');
  const port = options.port ?? (await freePort());
  const { tls } = options;
  const listen = tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        tls.cert,
        '--tls-key-file',
        tls.key,
        '--tls-ca-cert-file',
        tls.ca,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  let server = spawnGuarded(
    'redis-server',
    binary,
    [
      ...listen,
      '--bind',
      '127.0.0.1',
      ...(options.alsoListen ? [options.alsoListen.address] : []),
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--requirepass',
      password,
    ],
    { cleanup: [dir] },
  );
  const url = `${tls ? 'rediss' : 'redis'}://default:${password}@127.0.0.1:${port}`;
  const ca = tls && readFileSync(tls.ca, 'utf8');
  await waitFor('Redis to answer PING', () => canPing(url, ca || undefined), { process: server });
  return {
    url,
    describe: `local Redis (${binary}) on 127.0.0.1:${port}`,
    stop: () => server.stop(),
    freeze: () => server.freeze(),
    async restart(restartOptions) {
      server = await server.restart(restartOptions);
      await waitFor('Redis to answer PING again', () => canPing(url, ca || undefined), {
        process: server,
      });
    },
  };
}

async function canPing(url: string, ca?: string): Promise<true | undefined> {
  const client = new Redis(url, {
    ...(ca && { tls: { ca } }),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => {}); // the server may still be starting
  try {
    await client.connect();
    return (await client.ping()) === 'PONG' ? true : undefined;
  } finally {
    client.disconnect();
  }
}
