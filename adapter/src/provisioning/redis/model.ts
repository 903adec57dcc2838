/** What an instance should have in Redis. */
export interface RedisTenant {
  /** The ACL user; the same name as the namespace it is confined to. */
  user: string;
  namespace: string;
  password: string;
  /** False while the instance is retained after deletion: the user stays, logins are refused. */
  enabled: boolean;
}

/** What Redis has of an instance's user, from `ACL GETUSER`. */
export interface ObservedRedis {
  user?: {
    enabled: boolean;
    passwordHashes: string[];
    commands: string;
    keys: string;
    channels: string;
    selectors: number;
  };
}

/** One `ACL` step towards the desired state. */
export type RedisAction =
  | { type: 'setUser'; reason: string }
  | { type: 'killClients' }
  | { type: 'deleteKeys' }
  | { type: 'deleteUser' };

/**
 * The commands a tenant may run: data commands on its own keys and channels,
 * nothing that reaches the whole server. Key-name enumeration (SCAN, KEYS,
 * RANDOMKEY) and channel enumeration show other tenants' names even under a
 * key pattern; scripts and functions can be flushed server-wide; SELECT and
 * friends reach other databases.
 */
export const TENANT_COMMAND_RULES = [
  '-@all',
  '+@read',
  '+@write',
  '+@keyspace',
  '+@string',
  '+@hash',
  '+@list',
  '+@set',
  '+@sortedset',
  '+@stream',
  '+@bitmap',
  '+@hyperloglog',
  '+@geo',
  '+@transaction',
  '+@connection',
  '+@pubsub',
  '-@dangerous',
  '-@admin',
  '-@scripting',
  '-scan',
  '-keys',
  '-randomkey',
  '-dbsize',
  '-select',
  '-move',
  '-swapdb',
  '-info',
  '-lastsave',
  '-pubsub|channels',
  '-pubsub|numsub',
  '-pubsub|numpat',
  '-pubsub|shardchannels',
  '-pubsub|shardnumsub',
  '-client|list',
  '-client|info',
  '-client|kill',
] as const;

/** The key and channel patterns that confine a user to its namespace. */
export function namespacePatterns(namespace: string): { keys: string; channels: string } {
  return { keys: `~${namespace}:*`, channels: `&${namespace}:*` };
}
