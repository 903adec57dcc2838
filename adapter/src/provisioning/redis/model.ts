/** What an instance should have in Redis. */
export interface RedisTenant {
  /** The ACL user; the same name as the namespace it is confined to. */
  user: string;
  namespace: string;
  password: string;
  /** False while the instance is retained after deletion: the user stays, logins are refused. */
  enabled: boolean;
  /** Who the user and namespace belong to (e.g. a Kubernetes object's namespace/name). */
  owner?: string;
  /** Take over keys that already exist under the namespace when nobody holds it: an explicit opt-in. */
  adoptExistingKeys?: boolean;
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
  /** The owner the ownership record names for this user; undefined when nobody holds it. */
  owner?: string;
  /** Read only while nobody holds the user: keys already exist under the namespace. */
  keysExist?: boolean;
  /** Read only while nobody holds the user: owners of namespaces that overlap this one. */
  overlappingOwners?: string[];
}

/** One `ACL` step towards the desired state. */
export type RedisAction =
  | { type: 'claim' }
  | { type: 'release' }
  | { type: 'setUser'; reason: string }
  | { type: 'killClients' }
  | { type: 'deleteKeys' }
  | { type: 'deleteUser' };

/** The key and channel patterns that confine a user to its namespace. */
export function namespacePatterns(namespace: string): { keys: string; channels: string } {
  return { keys: `~${namespace}:*`, channels: `&${namespace}:*` };
}
