import { createConnection, type Socket } from 'node:net';
import {
  deriveIdentity,
  failFastOptions,
  generatePassword,
  RedisProvisioner,
  redisTenant,
  TENANT_COMMANDS,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { uniquePrefix } from '../support/fixtures.ts';

// Tenant A, with the credentials provisioning issued, tries every way of
// learning B's key names or writing outside its own database.
const prefix = uniquePrefix();
const a = redisTenant(deriveIdentity({ instanceName: `${prefix}-system-engine-A` }), {
  password: generatePassword(),
  owner: 'team-a/a',
});
const b = redisTenant(deriveIdentity({ instanceName: `${prefix}-system-engine-B` }), {
  password: generatePassword(),
  owner: 'team-b/b',
});
const secretKey = `${b.namespace}:secret-${prefix}`;
let admin: Redis;
let tenantA: Redis;

const address = () => {
  const { hostname, port } = new URL(inject('redisUrl'));
  return { host: hostname, port: Number(port) };
};

beforeAll(async () => {
  const provisioner = new RedisProvisioner(inject('redisUrl'));
  await provisioner.ensure(a);
  await provisioner.ensure(b);
  await provisioner.close();
  admin = new Redis(inject('redisUrl'));
  await admin.set(secretKey, 'b-only');
  await admin.config('SET', 'notify-keyspace-events', 'KEA');
  tenantA = new Redis(failFastOptions({ ...address(), username: a.user, password: a.password }));
  tenantA.on('error', () => {});
  await tenantA.connect();
});

afterAll(async () => {
  await admin?.config('SET', 'notify-keyspace-events', '');
  admin?.disconnect();
  tenantA?.disconnect();
});

/** Every command and subcommand this server has, with the smallest argument count it accepts. */
async function serverCommands(): Promise<{ name: string; args: number }[]> {
  const reply = (await admin.call('COMMAND')) as unknown[][];
  const commands: { name: string; args: number }[] = [];
  for (const entry of reply) {
    const [name, arity] = entry as [string, number];
    const subcommands = (entry[9] ?? []) as unknown[][];
    if (subcommands.length === 0) commands.push({ name, args: Math.abs(arity) - 1 });
    for (const sub of subcommands) {
      const [subname, subarity] = sub as [string, number];
      commands.push({ name: subname, args: Math.abs(subarity) - 1 });
    }
  }
  return commands;
}

describe("tenant A's command set", () => {
  it('is exactly the allow-list, asked of the server one command at a time', async () => {
    const allowed: string[] = [];
    for (const { name, args } of await serverCommands()) {
      const [command, sub] = name.split('|') as [string, string | undefined];
      // Key and channel arguments name A's own namespace, so only the command itself can be refused.
      const rest = Array.from({ length: sub ? args - 1 : args }, () => `${a.namespace}:x`);
      const verdict = String(
        await admin.call('ACL', 'DRYRUN', a.user, command, ...(sub ? [sub] : []), ...rest),
      );
      if (!/no permissions to run the/.test(verdict)) allowed.push(name.toLowerCase());
    }
    expect(allowed.sort()).toEqual([...TENANT_COMMANDS].sort());
  });
});

describe('tenant A cannot learn key names or reach other databases', () => {
  it.each(
    [
      ['SCAN', '0'],
      ['KEYS', '*'],
      ['RANDOMKEY'],
      ['DBSIZE'],
      ['INFO', 'keyspace'],
      ['MEMORY', 'STATS'],
      ['MEMORY', 'USAGE', 'x'],
      ['LATENCY', 'LATEST'],
      ['SLOWLOG', 'GET'],
      ['OBJECT', 'ENCODING', 'x'],
      ['MONITOR'],
      ['CLIENT', 'LIST'],
      ['CLIENT', 'INFO'],
      ['CLIENT', 'KILL', 'USER', 'default'],
      ['CLIENT', 'TRACKING', 'ON', 'BCAST'],
      ['CLIENT', 'CACHING', 'YES'],
      ['CLIENT', 'GETREDIR'],
      ['PUBSUB', 'CHANNELS'],
      ['PUBSUB', 'NUMSUB', 'x'],
      ['PUBSUB', 'NUMPAT'],
      ['PUBSUB', 'SHARDCHANNELS'],
      ['PSUBSCRIBE', '__keyspace@0__:*'],
      ['SUBSCRIBE', '__keyevent@0__:set'],
      ['SUBSCRIBE', '__redis__:invalidate'],
      ['WAIT', '0', '0'],
      ['SELECT', '1'],
      ['SWAPDB', '0', '1'],
      ['MOVE', 'x', '1'],
      ['COPY', 'x', 'y', 'DB', '1'],
      ['SORT', 'x', 'BY', 'nosort', 'GET', '*'],
      ['FLUSHDB'],
      ['EVAL', 'return 1', '0'],
      ['FCALL', 'f', '0'],
    ].map((command) => [command.join(' '), command] as const),
  )('%s is refused', async (_, [name, ...args]) => {
    // Key arguments are A's own, so a refusal is about the command, never about the key.
    const own = args.map((arg) => (arg === 'x' || arg === 'y' ? `${a.namespace}:${arg}` : arg));
    await expect(tenantA.call(name as string, ...own)).rejects.toThrow(/NOPERM/);
  });

  it("never receives B's key names through client-side caching invalidations (RESP3)", async () => {
    const { username, password } = new URL(inject('redisUrl'));
    // The same steps as the server's admin show the key names, so the probe can see a leak.
    expect(await trackedChanges(username || 'default', decodeURIComponent(password))).toContain(
      b.namespace,
    );
    expect(await trackedChanges(a.user, a.password)).not.toContain(b.namespace);
  });

  it('cannot write its own keys into another database', async () => {
    await tenantA.set(`${a.namespace}:copied`, 'v');
    await tenantA
      .call('COPY', `${a.namespace}:copied`, `${a.namespace}:copied`, 'DB', '1')
      .catch(() => {});
    const other = new Redis(`${inject('redisUrl')}/1`);
    try {
      expect(await other.exists(`${a.namespace}:copied`)).toBe(0);
    } finally {
      other.disconnect();
    }
  });

  it('still does its own work', async () => {
    await tenantA.set(`${a.namespace}:k`, 'v', 'EX', 60);
    await tenantA.hset(`${a.namespace}:h`, 'f', '1');
    expect(await tenantA.get(`${a.namespace}:k`)).toBe('v');
    expect(await tenantA.publish(`${a.namespace}:events`, 'hello')).toBe(0);
    expect(await tenantA.del(`${a.namespace}:k`, `${a.namespace}:h`)).toBe(2);
  });
});

/** What a RESP3 connection with broadcast tracking receives while B's keys change. */
async function trackedChanges(user: string, password: string): Promise<string> {
  const connection = await rawConnection(user, password);
  try {
    await connection.send(['CLIENT', 'TRACKING', 'ON', 'BCAST']);
    await admin.set(secretKey, `changed-${Math.random()}`);
    await admin.set(`${secretKey}-2`, 'new');
    await new Promise((resolve) => setTimeout(resolve, 300));
    return connection.received();
  } finally {
    connection.socket.destroy();
  }
}

/** A bare connection that speaks RESP3 and keeps everything it receives, push messages included. */
async function rawConnection(user: string, password: string) {
  const socket: Socket = createConnection(address());
  let data = '';
  socket.on('data', (chunk: Buffer) => {
    data += chunk.toString('utf8');
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const connection = {
    socket,
    received: () => data,
    async send(command: string[]): Promise<void> {
      socket.write(
        `*${command.length}\r\n${command.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('')}`,
      );
      await new Promise((resolve) => setTimeout(resolve, 100));
    },
  };
  await connection.send(['HELLO', '3', 'AUTH', user, password]);
  expect(data).not.toMatch(/^-/);
  return connection;
}
