import {
  describeCause,
  FencedError,
  StoreUnavailableError,
  TseError,
  ValidationError,
} from '@tse/adapter';
import type { ConditionInput } from './conditions.ts';

// Small pure decisions: each turns what was observed into a condition with a
// reason and a message for people.

/**
 * DatabaseReady / CacheReady from a provisioning step's outcome and the
 * condition before it. A store that had confirmed the instance's names and
 * now cannot be reached or answers too late is Unknown, not False: whether
 * it still holds them cannot be told, and they stay the instance's
 * (`holdsStoreNames`). Any other failure (a refusal, an admin login the
 * store rejects, an error) is False: a store that answers and does not
 * confirm the names leaves them to the stores' own markers.
 */
export function storeCondition(
  type: 'DatabaseReady' | 'CacheReady',
  store: string,
  outcome: StoreOutcome,
  before?: Pick<ConditionInput, 'status'>,
): ConditionInput {
  if (outcome.ok) {
    return { type, status: 'True', reason: 'Provisioned', message: outcome.message };
  }
  const status = holdsStoreNames(before) && unreachable(outcome.reason) ? 'Unknown' : 'False';
  return { type, status, reason: outcome.reason, message: `${store}: ${outcome.message}` };
}

/** Whether a DatabaseReady / CacheReady condition says the store holds the instance's names. */
export function holdsStoreNames(condition: Pick<ConditionInput, 'status'> | undefined): boolean {
  return condition?.status === 'True' || condition?.status === 'Unknown';
}

/** Whether a store failure's reason says the store could not be reached, or did not answer in time. */
function unreachable(reason: string): boolean {
  return /^(Postgres|Redis)(Unavailable|StoreTimeout)$/.test(reason);
}

/** What provisioning one store came to. */
export type StoreOutcome =
  | { ok: true; message: string; actions: number }
  | { ok: false; reason: string; message: string; retry: boolean };

/**
 * Classifies a provisioning failure: expected ones get a reason, anything
 * else is wrapped. A write the fence held back is no store's failure: it is
 * thrown on (the replica no longer leads; nothing is to be reported).
 */
export function storeFailure(
  error: unknown,
  store: 'postgres' | 'redis',
): StoreOutcome & { ok: false } {
  if (error instanceof FencedError) throw error;
  const label = store === 'postgres' ? 'Postgres' : 'Redis';
  if (error instanceof StoreUnavailableError)
    return { ok: false, reason: `${label}Unavailable`, message: error.message, retry: true };
  if (error instanceof ValidationError)
    return { ok: false, reason: 'InvalidSpec', message: error.message, retry: false };
  if (error instanceof TseError)
    return {
      ok: false,
      reason: `${label}${pascal(error.code)}`,
      message: error.message,
      retry: error.code !== 'NOT_OWNED',
    };
  return { ok: false, reason: `${label}Error`, message: describeCause(error), retry: true };
}

/** Whether a CacheReady reason says the Redis server's ownership record refused the instance. */
export function refusedByRedisRecord(reason: string): boolean {
  return reason === 'RedisNotOwned' || reason === 'RedisClaimConflict';
}

/**
 * Whether an instance is looked at as soon as its Redis comes back (the
 * server may have restarted and lost its ACL users and ownership record).
 * Not one the ownership record refused: with the record gone, the first to
 * claim a name would get it, so those wait for their own retry and the
 * holders claim their names back first.
 */
export function lookAtOnRedisReturn(
  cacheReady: Pick<ConditionInput, 'status' | 'reason'> | undefined,
): boolean {
  return !(cacheReady?.status === 'False' && refusedByRedisRecord(cacheReady.reason));
}

/** Ready: everything else True; otherwise the first thing that is not, as the reason. */
export function readyCondition(conditions: ConditionInput[]): ConditionInput {
  const blocking = conditions.find(
    (condition) => condition.type !== 'Paused' && condition.status !== 'True',
  );
  if (!blocking)
    return {
      type: 'Ready',
      status: 'True',
      reason: 'Ready',
      message: 'stores provisioned, credentials verified, engine available',
    };
  return { type: 'Ready', status: 'False', reason: blocking.reason, message: blocking.message };
}

/** How long after its Deployment was made a new instance's first status may wait for its engine pods. */
export const FIRST_STATUS_WAIT_MS = 10_000;

/** Not ready only because the engine pods are still starting. */
const STARTING_REASONS = new Set(['NoActiveEngine', 'ActiveEngineNotReady']);

/**
 * How much longer (ms) a new instance's first status waits; 0 to write it
 * now. Stores provisioned and objects applied, a new instance waits only for
 * its engine pods: the status once they are ready says all the steps before
 * it too, so a normal start is one status write, not one per step (Events
 * tell of the stores meanwhile). Only while some pod is not ready, and never
 * past FIRST_STATUS_WAIT_MS from when its Deployment was made (`deployedAt`,
 * as the reconcile applied it; undefined, the whole wait): a slow start
 * shows where it is. Counted from the Deployment, not
 * from the instance: an instance that waited in a queue behind a thousand
 * others still gives its pods their time. Anything else (a store failing, an
 * object refused, an engine that is not the instance's) is written at once.
 */
export function firstStatusWait(
  ready: ConditionInput,
  pods: { ready: number; wanted: number },
  deployedAt: string | undefined,
  now: Date,
): number {
  const starting = ready.status === 'False' && STARTING_REASONS.has(ready.reason);
  if (!starting || pods.ready >= pods.wanted) return 0;
  if (deployedAt === undefined) return FIRST_STATUS_WAIT_MS;
  const left = Date.parse(deployedAt) + FIRST_STATUS_WAIT_MS - now.getTime();
  return Math.min(Math.max(left, 0), FIRST_STATUS_WAIT_MS);
}

/**
 * The Warning for the server's other databases that PUBLIC (so this
 * instance's role too) may connect to, or undefined when there is nothing new
 * to say: `told` is the `key` of the last one given to this instance, so it is
 * said once per change of the databases, not on every resync.
 */
export function openDatabasesWarning(
  databases: string[],
  told: string | undefined,
  /** Why revoking it, when asked, failed. */
  failure?: string,
): { key: string; reason: string; message: string } | undefined {
  const sorted = [...databases].sort();
  const key = [...sorted, ...(failure ? [failure] : [])].join('\n');
  if (databases.length === 0 || key === told) return undefined;
  const names = sorted.map((name) => `"${name}"`).join(', ');
  if (failure)
    return {
      key,
      reason: 'DatabasesOpenToPublic',
      message: `PUBLIC may still connect to PostgreSQL database ${names} on this server: revoking it failed (${failure}). This instance is provisioned regardless; fix the admin's privileges or run the REVOKE as the databases' owner`,
    };
  return {
    key,
    reason: 'DatabasesOpenToPublic',
    message: `PUBLIC may connect to PostgreSQL database ${names} on this server, so this instance's role (and every other role) can log in there. Either set the operator chart value postgres.revokePublicConnect=true (POSTGRES_REVOKE_PUBLIC_CONNECT) to have them revoked, or run REVOKE CONNECT, TEMPORARY ON DATABASE <name> FROM PUBLIC yourself, granting CONNECT by name to the roles that need it`,
  };
}

function pascal(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}
