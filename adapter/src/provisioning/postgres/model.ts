import { createHash } from 'node:crypto';

/**
 * The comment that marks a role as ours, for one database and schema: a role
 * without it (a person's, or another database's tenant) is never touched.
 * Any role can read role comments, so the owner appears only as a digest.
 */
export function managedRoleComment(
  tenant: Pick<PostgresTenant, 'database' | 'schema' | 'owner'>,
): string {
  const owner = tenant.owner ? `; owner ${ownerDigest(tenant.owner)}` : '';
  return `${commentBase(tenant)}${owner}`;
}

/** The comment earlier versions wrote, with the owner in clear: still ours, rewritten on sight. */
export function legacyRoleComment(
  tenant: Pick<PostgresTenant, 'database' | 'schema' | 'owner'>,
): string {
  return `${commentBase(tenant)}${tenant.owner ? `; owner ${tenant.owner}` : ''}`;
}

/** A digest that tells owners apart without naming them. */
export function ownerDigest(owner: string): string {
  return `sha256:${createHash('sha256').update(owner).digest('hex').slice(0, 24)}`;
}

function commentBase(tenant: Pick<PostgresTenant, 'database' | 'schema'>): string {
  return `managed by trading-engine-operator; database ${tenant.database}; schema ${tenant.schema}`;
}

/** What an instance should have in PostgreSQL. */
export interface PostgresTenant {
  /** The login role; the same name as the schema it owns. */
  role: string;
  schema: string;
  database: string;
  password: string;
  connectionLimit: number;
  /** False while the instance is retained after deletion: the role stays, logins are refused. */
  login: boolean;
  /** Who the role belongs to (e.g. a Kubernetes object's namespace/name); only that owner adopts it. */
  owner?: string;
}

/** What PostgreSQL has of an instance, as read by `observePostgres`. */
export interface ObservedPostgres {
  role?: {
    comment: string | null;
    canLogin: boolean;
    superuser: boolean;
    createDb: boolean;
    createRole: boolean;
    replication: boolean;
    bypassRls: boolean;
    connectionLimit: number;
    searchPath: string | null;
  };
  /** True when a login with the desired password succeeds; undefined when not checked. */
  passwordWorks?: boolean;
  schemaOwner?: string;
  canConnect: boolean;
  /** The role, or PUBLIC when the role does not exist yet, may create in schema public. */
  canCreateInPublic: boolean;
  /** PUBLIC holds CONNECT or TEMPORARY on the database: any role of the server could log in to it. */
  publicCanConnect?: boolean;
  /**
   * The server's other databases that PUBLIC may connect to (template0 and
   * those that allow no connections aside): any tenant role could log in there.
   */
  openToPublic?: string[];
}

/** Server-wide choices that are the operator's, not an instance's. */
export interface PostgresPolicy {
  /**
   * Revoke CONNECT and TEMPORARY from PUBLIC on the server's other databases
   * too. Off by default: other applications may rely on PUBLIC's CONNECT.
   */
  revokePublicConnect?: boolean;
}

/** One step towards the desired state; executors turn each into one statement. */
export type PostgresAction =
  | { type: 'createRole' }
  | { type: 'alterRole'; changes: string[] }
  | { type: 'setPassword' }
  | { type: 'setSearchPath' }
  | { type: 'createSchema' }
  | { type: 'setComment' }
  | { type: 'grantConnect' }
  | { type: 'revokePublicCreate' }
  | { type: 'revokePublicDatabase' }
  | { type: 'revokePublicOtherDatabase'; database: string }
  | { type: 'terminateSessions' }
  | { type: 'dropSchema' }
  | { type: 'dropRole' };
