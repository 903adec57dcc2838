import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';
import {
  freePort,
  type Guarded,
  type RestartOptions,
  spawnGuarded,
  systemUser,
  waitFor,
} from './processes.ts';

/** A PostgreSQL server for a test run and the superuser URL to reach it. */
export interface StoreServer {
  url: string;
  describe: string;
  stop(): Promise<void>;
  /** Local servers: stops the server and starts it again on the same port with the same data (what it persists), `downMs` later. */
  restart?(options?: RestartOptions): Promise<void>;
  /** Local servers: stops the server where it stands (its connections stay open, nothing answers); the function returned lets it go on. */
  freeze?(): () => void;
}

/**
 * The directory of a local PostgreSQL installation's server binaries, if any:
 * TEST_POSTGRES_BIN when set, else PATH and Debian's /usr/lib/postgresql.
 */
export function findPostgresBinaries(): string | undefined {
  const chosen = process.env.TEST_POSTGRES_BIN;
  if (chosen) return existsSync(join(chosen, 'postgres')) ? chosen : undefined;
  const candidates = (process.env.PATH ?? '').split(delimiter);
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => join(debian, version, 'bin')));
  }
  return candidates.find(
    (dir) => existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')),
  );
}

/**
 * Starts a throw-away PostgreSQL on a free loopback port in a temporary
 * directory, with password authentication (so a wrong password really fails)
 * and pg_stat_statements (so tests can count the statements they cause).
 */
export async function startLocalPostgres(
  binaries: string,
  options: {
    port?: number;
    password?: string;
    /** Another address to listen on, and the range allowed to log in through it (pods on a real node). */
    alsoListen?: { address: string; allow: string };
    tls?: { cert: string; key: string };
  } = {},
): Promise<StoreServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tse-postgres-'));
  const password = options.password ?? randomBytes(12).toString('hex');
  writeFileSync(join(dir, 'password'), password);
  const owner =
    process.getuid?.() === 0 ? (systemUser('postgres') ?? systemUser('nobody')) : undefined;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  if (owner) chownSync(join(dir, 'password'), owner.uid, owner.gid);

  const data = join(dir, 'data');
  const init = spawnSync(
    join(binaries, 'initdb'),
    [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=scram-sha-256',
      `--pwfile=${join(dir, 'password')}`,
      '-E',
      'UTF8',
      '--no-sync',
    ],
    { encoding: 'utf8', ...owner },
  );
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stderr || init.stdout}`);
  const { alsoListen } = options;
  if (alsoListen)
    appendFileSync(join(data, 'pg_hba.conf'), `host all all ${alsoListen.allow} scram-sha-256\n`);
  const tlsFlags: string[] = [];
  if (options.tls) {
    // TLS only: TCP without TLS is rejected, so a client that drops TLS cannot log in.
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    writeFileSync(cert, options.tls.cert);
    writeFileSync(key, options.tls.key, { mode: 0o600 });
    if (owner) for (const file of [cert, key]) chownSync(file, owner.uid, owner.gid);
    writeFileSync(
      join(data, 'pg_hba.conf'),
      [
        'local all all scram-sha-256',
        'hostssl all all 127.0.0.1/32 scram-sha-256',
        ...(alsoListen ? [`hostssl all all ${alsoListen.allow} scram-sha-256`] : []),
        'hostnossl all all 0.0.0.0/0 reject',
        '',
      ].join('\n'),
    );
    tlsFlags.push('-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`);
  }

  const port = options.port ?? (await freePort());
  let server: Guarded = spawnGuarded(
    'postgres',
    join(binaries, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      `listen_addresses=${['127.0.0.1', alsoListen?.address].filter(Boolean).join(',')}`,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
      '-c',
      'shared_preload_libraries=pg_stat_statements',
      '-c',
      'pg_stat_statements.track_utility=on',
      ...tlsFlags,
    ],
    { cleanup: [dir], stopSignal: 'SIGINT', ...owner },
  );
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/postgres${options.tls ? '?sslmode=no-verify' : ''}`;
  await waitFor('PostgreSQL to accept connections', () => canQuery(url), { process: server });
  return {
    url,
    describe: `local PostgreSQL (${binaries}) on 127.0.0.1:${port}`,
    stop: () => server.stop(),
    freeze: () => server.freeze(),
    async restart(restartOptions) {
      server = await server.restart(restartOptions);
      await waitFor('PostgreSQL to accept connections again', () => canQuery(url), {
        process: server,
      });
    },
  };
}

async function canQuery(url: string): Promise<true | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } finally {
    await client.end().catch(() => {});
  }
}
