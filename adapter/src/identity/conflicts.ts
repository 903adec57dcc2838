import type { Identity } from './derive.ts';

/** Why two identities cannot both be provisioned on the same stores. */
export type ConflictKind = 'schema' | 'namespace' | 'namespace-prefix';

/** A conflict between two identities, with a sentence for people. */
export interface Conflict {
  kind: ConflictKind;
  message: string;
}

/** Store names as a claim carries them: a claim on what an instance holds may lack one. */
type StoreNames = Partial<Pick<Identity, 'postgresSchema' | 'redisNamespace'>>;

/**
 * Tells whether two identities would share data: the same schema, the same
 * namespace, or one namespace a `:`-prefix of the other (the ACL pattern
 * `~a:b:*` reaches into `a:b:c:*`). Returns undefined when they are apart;
 * a name one of them lacks conflicts with nothing.
 */
export function findConflict(a: StoreNames, b: StoreNames): Conflict | undefined {
  if (a.postgresSchema !== undefined && a.postgresSchema === b.postgresSchema) {
    return { kind: 'schema', message: `both use PostgreSQL schema "${a.postgresSchema}"` };
  }
  if (a.redisNamespace === undefined || b.redisNamespace === undefined) return undefined;
  if (a.redisNamespace === b.redisNamespace) {
    return { kind: 'namespace', message: `both use Redis namespace "${a.redisNamespace}"` };
  }
  const [shorter, longer] =
    a.redisNamespace.length < b.redisNamespace.length
      ? [a.redisNamespace, b.redisNamespace]
      : [b.redisNamespace, a.redisNamespace];
  if (longer.startsWith(`${shorter}:`)) {
    return {
      kind: 'namespace-prefix',
      message: `Redis namespace "${shorter}" contains "${longer}" (keys "${shorter}:*" include "${longer}:*")`,
    };
  }
  return undefined;
}

/** One instance's claim on store names, ordered by age for tie-breaking. */
export interface Claim<K extends string = string> {
  key: K;
  createdAt: string;
  identity: StoreNames;
  /** True when the names were already provisioned for this claim: it keeps them. */
  holds?: boolean;
}

/** The claim an instance lost to, and why. */
export interface Refusal<K extends string = string> {
  heldBy: K;
  conflict: Conflict;
}

/**
 * Decides which claims keep their names: one that already holds them first,
 * then the earliest-created, then the smallest key, so every operator
 * replica and every restart decides the same, and a name in use is never
 * taken away. A refused claim blocks nobody.
 */
export function arbitrateClaims<K extends string>(claims: Iterable<Claim<K>>): Map<K, Refusal<K>> {
  const ordered = [...claims].sort(
    (a, b) =>
      Number(Boolean(b.holds)) - Number(Boolean(a.holds)) ||
      compare(a.createdAt, b.createdAt) ||
      compare(a.key, b.key),
  );
  const kept: Claim<K>[] = [];
  const refused = new Map<K, Refusal<K>>();
  for (const claim of ordered) {
    const holder = kept.find((other) => findConflict(other.identity, claim.identity));
    const conflict = holder && findConflict(holder.identity, claim.identity);
    if (holder && conflict) refused.set(claim.key, { heldBy: holder.key, conflict });
    else kept.push(claim);
  }
  return refused;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The refusal of one claim among many, as `arbitrateClaims` would decide it,
 * looking only at the claims its names connect it to: indexes by schema, by
 * namespace and by namespace prefix keep this linear in the number of claims
 * (arbitrating all of them would be quadratic, on every reconcile).
 */
export function refusalOf<K extends string>(key: K, claims: Claim<K>[]): Refusal<K> | undefined {
  const me = claims.find((claim) => claim.key === key);
  if (!me) return undefined;
  const index = new Map<string, Claim<K>[]>();
  const add = (name: string, claim: Claim<K>) => {
    const list = index.get(name);
    if (list) list.push(claim);
    else index.set(name, [claim]);
  };
  for (const claim of claims) {
    const { postgresSchema, redisNamespace } = claim.identity;
    if (postgresSchema !== undefined) add(`schema ${postgresSchema}`, claim);
    if (redisNamespace === undefined) continue;
    add(`namespace ${redisNamespace}`, claim);
    for (const prefix of namespacePrefixes(redisNamespace)) add(`under ${prefix}`, claim);
  }
  const neighbours = ({ identity: { postgresSchema, redisNamespace } }: Claim<K>) => [
    ...(postgresSchema === undefined ? [] : (index.get(`schema ${postgresSchema}`) ?? [])),
    ...(redisNamespace === undefined
      ? []
      : [
          ...(index.get(`namespace ${redisNamespace}`) ?? []),
          ...(index.get(`under ${redisNamespace}`) ?? []),
          ...namespacePrefixes(redisNamespace).flatMap(
            (prefix) => index.get(`namespace ${prefix}`) ?? [],
          ),
        ]),
  ];
  const component = new Set<Claim<K>>([me]);
  const queue = [me];
  for (let claim = queue.pop(); claim; claim = queue.pop()) {
    for (const next of neighbours(claim)) {
      if (!component.has(next)) {
        component.add(next);
        queue.push(next);
      }
    }
  }
  return arbitrateClaims(component).get(key);
}

/** `a:b:c` → `a`, `a:b`: the namespaces whose ACL pattern would reach into it. */
export function namespacePrefixes(namespace: string): string[] {
  const parts = namespace.split(':');
  return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join(':'));
}
