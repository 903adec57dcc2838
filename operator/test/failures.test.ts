import { ApiException } from '@kubernetes/client-node';
import {
  AdminAuthenticationError,
  ClaimConflictError,
  FencedError,
  OwnershipError,
  StoreTimeoutError,
  StoreUnavailableError,
} from '@tse/adapter';
import { describe, expect, it } from 'vitest';
import { ApplyError, rejectionOf } from '../src/controller/apply.ts';
import { Backoff, settleAll } from '../src/controller/context.ts';
import {
  holdsStoreNames,
  lookAtOnRedisReturn,
  storeCondition,
  storeFailure,
} from '../src/controller/decisions.ts';
import { ABANDON_ANNOTATION, abandonedStores } from '../src/controller/finalizer.ts';
import { instance } from './fixtures.ts';

const deployment = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'lh' } };
const refused = (code: number, body: unknown) =>
  rejectionOf(deployment, new ApiException(code, `HTTP-Code: ${code}`, body, {}));

describe('rejectionOf', () => {
  it("names the kind, the name and the API server's message of a 4xx", () => {
    const error = refused(
      422,
      JSON.stringify({
        kind: 'Status',
        message:
          'Deployment.apps "lh" is invalid: spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value',
      }),
    );
    expect(error).toBeInstanceOf(ApplyError);
    expect(error?.status).toBe(422);
    expect(error?.message).toBe(
      'the API server refused Deployment "lh" (422): Deployment.apps "lh" is invalid: spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required value',
    );
    expect(refused(403, { message: 'forbidden: no' })?.message).toMatch(/\(403\): forbidden: no$/);
    expect(refused(409, 'field is immutable')?.message).toMatch(/\(409\): field is immutable$/);
  });

  it('leaves what a retry may cure to the queue: 404, 429, 5xx, no answer', () => {
    for (const code of [404, 408, 429, 500, 503]) expect(refused(code, '')).toBeUndefined();
    expect(rejectionOf(deployment, new Error('ECONNREFUSED'))).toBeUndefined();
  });
});

describe('abandonedStores', () => {
  const annotated = (value: string) =>
    abandonedStores(
      instance('lh', (object) => {
        object.metadata.annotations = { [ABANDON_ANNOTATION]: value };
      }),
    );

  it('reads true, a store, or a list of them', () => {
    expect([...annotated('true')]).toEqual(['postgres', 'redis']);
    expect([...annotated('redis')]).toEqual(['redis']);
    expect([...annotated(' Postgres , redis ')]).toEqual(['postgres', 'redis']);
    expect([...annotated('false')]).toEqual([]);
    expect([...annotated('mysql')]).toEqual([]);
    expect([...abandonedStores(instance('lh'))]).toEqual([]);
  });
});

describe('settleAll', () => {
  it('waits for every write, then throws a fenced one first, else the first failure in order', async () => {
    let late = false;
    const slow = new Promise<void>((resolve) =>
      setTimeout(() => {
        late = true;
        resolve();
      }, 20),
    );
    const fenced = new FencedError('not the leader any more');
    await expect(settleAll([Promise.reject(new Error('first')), slow])).rejects.toThrow('first');
    expect(late).toBe(true);
    await expect(
      settleAll([Promise.reject(new Error('first')), Promise.reject(fenced)]),
    ).rejects.toBe(fenced);
    expect(await settleAll([Promise.resolve(1), Promise.resolve('two')])).toEqual([1, 'two']);
  });
});

describe('Backoff', () => {
  it('doubles from the base to the cap, per key, and starts over after a reset', () => {
    const backoff = new Backoff(5000, 60_000);
    expect([1, 2, 3, 4, 5].map(() => backoff.next('a'))).toEqual([
      5000, 10_000, 20_000, 40_000, 60_000,
    ]);
    expect(backoff.next('b')).toBe(5000);
    backoff.reset('a');
    expect(backoff.next('a')).toBe(5000);
  });
});

describe('storeCondition', () => {
  const down = storeFailure(new StoreUnavailableError('postgres', 'down'), 'postgres');
  const taken = storeFailure(new OwnershipError('held by another owner'), 'postgres');
  const ok = { ok: true, message: 'schema ready', actions: 0 } as const;

  it('is Unknown, still holding the names, when a store that had them fails without refusing them', () => {
    for (const before of ['True', 'Unknown'] as const) {
      const condition = storeCondition('DatabaseReady', 'PostgreSQL', down, { status: before });
      expect(condition).toMatchObject({ status: 'Unknown', reason: 'PostgresUnavailable' });
      expect(holdsStoreNames(condition)).toBe(true);
    }
  });

  it('is Unknown when the store answered too late, False when it refused the admin credentials', () => {
    const late = storeFailure(new StoreTimeoutError('postgres', 'lock'), 'postgres');
    const rejected = storeFailure(new AdminAuthenticationError('redis', 'WRONGPASS'), 'redis');
    expect(rejected.reason).toBe('RedisAdminAuthentication');
    expect(storeCondition('DatabaseReady', 'PostgreSQL', late, { status: 'True' }).status).toBe(
      'Unknown',
    );
    // The admin Secret now names a server that says no: nothing there confirms the names.
    expect(storeCondition('CacheReady', 'Redis', rejected, { status: 'True' }).status).toBe(
      'False',
    );
  });

  it('is False when the store never had them, or refuses them now', () => {
    for (const before of [undefined, { status: 'False' as const }])
      expect(storeCondition('DatabaseReady', 'PostgreSQL', down, before).status).toBe('False');
    const refused = storeCondition('DatabaseReady', 'PostgreSQL', taken, { status: 'True' });
    expect(refused).toMatchObject({ status: 'False', reason: 'PostgresNotOwned' });
    expect(holdsStoreNames(refused)).toBe(false);
    expect(storeCondition('CacheReady', 'Redis', ok, { status: 'Unknown' }).status).toBe('True');
  });
});

describe('storeFailure', () => {
  it('retries what a retry may settle, not a name another owner holds', () => {
    expect(storeFailure(new ClaimConflictError('claimed at the same moment'), 'redis')).toEqual({
      ok: false,
      reason: 'RedisClaimConflict',
      message: 'claimed at the same moment',
      retry: true,
    });
    expect(storeFailure(new OwnershipError('held by another owner'), 'redis')).toMatchObject({
      reason: 'RedisNotOwned',
      retry: false,
    });
    expect(storeFailure(new StoreUnavailableError('postgres', 'down'), 'postgres')).toMatchObject({
      reason: 'PostgresUnavailable',
      retry: true,
    });
  });
});

describe('lookAtOnRedisReturn', () => {
  const cacheReady = (error: Error) => {
    const outcome = storeFailure(error, 'redis');
    return { status: 'False' as const, reason: outcome.reason };
  };

  it('looks at once at the holders and at instances Redis failed, not at those it refused', () => {
    expect(lookAtOnRedisReturn({ status: 'True', reason: 'Provisioned' })).toBe(true);
    expect(lookAtOnRedisReturn(cacheReady(new StoreUnavailableError('redis', 'down')))).toBe(true);
    expect(lookAtOnRedisReturn(undefined)).toBe(true);
    // With the ownership record lost, the first claim would win: these wait for their retry.
    expect(lookAtOnRedisReturn(cacheReady(new OwnershipError('held by another owner')))).toBe(
      false,
    );
    expect(lookAtOnRedisReturn(cacheReady(new ClaimConflictError('same moment')))).toBe(false);
  });
});
