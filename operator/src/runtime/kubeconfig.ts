import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';

/**
 * How to reach and authenticate to an API server: what the operator's
 * client needs from a kubeconfig file or from the pod's service account.
 */
export interface ClusterAccess {
  /** `https://host:port` (or `http://` for a local proxy). */
  server: string;
  tls: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    rejectUnauthorized: boolean;
    servername?: string;
  };
  /** Whom to act as (`as` / `as-groups`): sent as impersonation headers. */
  impersonate?: { user: string; groups: string[] };
  /** The bearer token to send, if any; fresh enough to use. */
  token(): Promise<string | undefined>;
  /**
   * Forgets a cached token after the API server refused it (401); whether
   * there is anything to read again (a fixed token is what it is).
   */
  invalidate(): boolean;
}

/** A kubeconfig or service-account setting the operator cannot use, named. */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';
}

const SERVICE_ACCOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Bound service-account tokens rotate: read again at most this often, as client-go does. */
const TOKEN_FILE_REREAD_MS = 60_000;

/**
 * The API server the operator talks to, found as client libraries find it:
 * the file named (`--kubeconfig` / the chart never sets one), else
 * `$KUBECONFIG`, else `~/.kube/config`, else the pod's service account.
 */
export function loadClusterAccess(path?: string, env = process.env): ClusterAccess {
  if (path) return fromKubeconfigFiles([path], env);
  if (env.KUBECONFIG) return fromKubeconfigFiles(env.KUBECONFIG.split(delimiter), env);
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return fromKubeconfigFiles([home], env);
  if (env.KUBERNETES_SERVICE_HOST) return inCluster(env);
  return unconfigured();
}

/**
 * No kubeconfig and no service account: the operator still starts (its
 * liveness and metrics answer) and every request fails saying what is
 * missing, as when an API server cannot be reached. A kubeconfig that is
 * named but unusable is an error at start instead.
 */
function unconfigured(): ClusterAccess {
  const missing = new KubeconfigError(
    'no kubeconfig: set KUBECONFIG, create ~/.kube/config, or run in a pod with a service account',
  );
  return {
    server: 'https://kubernetes.invalid',
    tls: { rejectUnauthorized: true },
    token: () => Promise.reject(missing),
    invalidate: () => false,
  };
}

/** The pod's service account: the API server's Service address, its CA and the rotating token. */
export function inCluster(env = process.env, directory = SERVICE_ACCOUNT): ClusterAccess {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca: readFileSync(join(directory, 'ca.crt')), rejectUnauthorized: true },
    ...tokenFile(join(directory, 'token')),
  };
}

/** A named cluster or user of a kubeconfig, and the directory its relative paths start from. */
interface Entry {
  name: string;
  value: Record<string, unknown>;
  base: string;
}

/**
 * Reads kubeconfig files the way kubectl merges them: for clusters, users
 * and contexts the first file to name one wins, and the current context is
 * the first file's that sets one.
 */
function fromKubeconfigFiles(paths: string[], env: NodeJS.ProcessEnv): ClusterAccess {
  const clusters = new Map<string, Entry>();
  const users = new Map<string, Entry>();
  const contexts = new Map<string, Record<string, unknown>>();
  let current: string | undefined;
  for (const path of paths.filter(Boolean)) {
    let document: Record<string, unknown>;
    try {
      document = (parse(readFileSync(path, 'utf8')) ?? {}) as Record<string, unknown>;
    } catch (error) {
      throw new KubeconfigError(`kubeconfig ${path}: ${(error as Error).message}`);
    }
    const base = dirname(path);
    current ??= (document['current-context'] as string | undefined) || undefined;
    for (const entry of list(document.clusters, path, 'clusters'))
      if (!clusters.has(entry.name))
        clusters.set(entry.name, { name: entry.name, value: record(entry.cluster), base });
    for (const entry of list(document.users, path, 'users'))
      if (!users.has(entry.name))
        users.set(entry.name, { name: entry.name, value: record(entry.user), base });
    for (const entry of list(document.contexts, path, 'contexts'))
      if (!contexts.has(entry.name)) contexts.set(entry.name, record(entry.context));
  }
  const where = paths.join(delimiter);
  if (!current) throw new KubeconfigError(`kubeconfig ${where}: no current-context is set`);
  const context = contexts.get(current);
  if (!context)
    throw new KubeconfigError(`kubeconfig ${where}: context "${current}" is not defined`);
  const cluster = clusters.get(String(context.cluster ?? ''));
  if (!cluster)
    throw new KubeconfigError(
      `kubeconfig ${where}: cluster "${String(context.cluster)}" of context "${current}" is not defined`,
    );
  const user = context.user ? users.get(String(context.user)) : undefined;
  if (context.user && !user)
    throw new KubeconfigError(
      `kubeconfig ${where}: user "${String(context.user)}" of context "${current}" is not defined`,
    );
  return accessOf(cluster, user, env);
}

function list(
  value: unknown,
  path: string,
  field: string,
): (Record<string, unknown> & { name: string })[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new KubeconfigError(`kubeconfig ${path}: ${field} must be a list`);
  return value.map((entry, index) => {
    const item = record(entry);
    if (typeof item.name !== 'string' || !item.name)
      throw new KubeconfigError(`kubeconfig ${path}: ${field}[${index}].name must be set`);
    return item as Record<string, unknown> & { name: string };
  });
}

const record = (value: unknown): Record<string, unknown> =>
  value && typeof value === 'object' ? (value as Record<string, unknown>) : {};

/** Settings that change how to connect and that this client does not implement: refused, not ignored. */
const UNSUPPORTED_CLUSTER = ['proxy-url'];
const UNSUPPORTED_USER = ['auth-provider', 'username', 'password', 'as-uid', 'as-user-extra'];

function accessOf(cluster: Entry, user: Entry | undefined, env: NodeJS.ProcessEnv): ClusterAccess {
  const c = cluster.value;
  const server = c.server;
  if (typeof server !== 'string' || !/^https?:\/\//.test(server))
    throw new KubeconfigError(
      `kubeconfig: clusters[${cluster.name}].server must be an http(s) URL, got ${JSON.stringify(server)}`,
    );
  for (const field of UNSUPPORTED_CLUSTER)
    if (c[field] !== undefined)
      throw new KubeconfigError(`kubeconfig: clusters[${cluster.name}].${field} is not supported`);
  const fileOrData = (entry: Entry, field: string): Buffer | undefined => {
    const data = entry.value[`${field}-data`];
    if (typeof data === 'string' && data) return Buffer.from(data, 'base64');
    const file = entry.value[field];
    if (typeof file === 'string' && file)
      return readFileSync(isAbsolute(file) ? file : join(entry.base, file));
    return undefined;
  };
  const u = user?.value ?? {};
  if (user)
    for (const field of UNSUPPORTED_USER)
      if (u[field] !== undefined)
        throw new KubeconfigError(
          `kubeconfig: users[${user.name}].${field} is not supported${field === 'auth-provider' ? ': use an exec credential plugin' : ''}`,
        );
  const tls: ClusterAccess['tls'] = {
    ca: fileOrData(cluster, 'certificate-authority'),
    cert: user && fileOrData(user, 'client-certificate'),
    key: user && fileOrData(user, 'client-key'),
    rejectUnauthorized: c['insecure-skip-tls-verify'] !== true,
    servername: typeof c['tls-server-name'] === 'string' ? c['tls-server-name'] : undefined,
  };
  if (Boolean(tls.cert) !== Boolean(tls.key))
    throw new KubeconfigError(
      `kubeconfig: users[${user?.name}] needs both client-certificate and client-key, or neither`,
    );
  // As client-go: a CA and skipping verification contradict each other.
  if (!tls.rejectUnauthorized && tls.ca)
    throw new KubeconfigError(
      `kubeconfig: clusters[${cluster.name}] sets both insecure-skip-tls-verify and a certificate authority`,
    );
  const as = u.as;
  if (u['as-groups'] !== undefined && !(typeof as === 'string' && as))
    throw new KubeconfigError(`kubeconfig: users[${user?.name}].as-groups needs as`);
  const impersonate =
    typeof as === 'string' && as
      ? { user: as, groups: Array.isArray(u['as-groups']) ? u['as-groups'].map(String) : [] }
      : undefined;
  return {
    server,
    tls,
    ...(impersonate ? { impersonate } : {}),
    ...credentials(u, user, env, server),
  };
}

function credentials(
  u: Record<string, unknown>,
  user: Entry | undefined,
  env: NodeJS.ProcessEnv,
  server: string,
): TokenSource {
  // As client-go: a token file, re-read as it rotates, wins over a fixed token.
  if (typeof u.tokenFile === 'string' && u.tokenFile)
    return tokenFile(isAbsolute(u.tokenFile) ? u.tokenFile : join(user?.base ?? '', u.tokenFile));
  if (typeof u.token === 'string' && u.token) return fixedToken(u.token);
  if (u.exec !== undefined && user)
    return execCredential(user.name, record(u.exec), user.base, server, env);
  return fixedToken(undefined);
}

type TokenSource = Pick<ClusterAccess, 'token' | 'invalidate'>;

const fixedToken = (token: string | undefined): TokenSource => ({
  token: async () => token,
  invalidate: () => false,
});

/** A token file read again every minute (and at once after a 401): bound tokens rotate. */
function tokenFile(path: string): TokenSource {
  let cached: { token: string; at: number } | undefined;
  return {
    async token() {
      if (!cached || Date.now() - cached.at > TOKEN_FILE_REREAD_MS)
        cached = { token: readFileSync(path, 'utf8').trim(), at: Date.now() };
      return cached.token;
    },
    invalidate: () => {
      cached = undefined;
      return true;
    },
  };
}

const run = promisify(execFile);

/**
 * An exec credential plugin (client.authentication.k8s.io), as cloud
 * providers ship them: run when there is no token or it has expired, its
 * token kept until `expirationTimestamp` or a 401. Plugins that answer with
 * a client certificate are refused by name.
 */
function execCredential(
  user: string,
  exec: Record<string, unknown>,
  base: string,
  server: string,
  env: NodeJS.ProcessEnv,
): TokenSource {
  const named = exec.command;
  if (typeof named !== 'string' || !named)
    throw new KubeconfigError(`kubeconfig: users[${user}].exec.command must be set`);
  // As client-go: a relative path (not a bare name looked up in PATH) starts at the kubeconfig.
  const command = named.includes('/') && !isAbsolute(named) ? join(base, named) : named;
  const apiVersion = String(exec.apiVersion ?? 'client.authentication.k8s.io/v1');
  const args = Array.isArray(exec.args) ? exec.args.map(String) : [];
  const extra = Object.fromEntries(
    (Array.isArray(exec.env) ? exec.env : []).map((entry) => [
      String(record(entry).name),
      String(record(entry).value),
    ]),
  );
  const info = {
    apiVersion,
    kind: 'ExecCredential',
    spec: {
      interactive: false,
      ...(exec.provideClusterInfo ? { cluster: { server } } : {}),
    },
  };
  let cached: { token: string; expiresAt: number } | undefined;
  let pending: Promise<string> | undefined;
  const fetchToken = async () => {
    // Errors name the command and how it ended, never its arguments or output:
    // plugins take client secrets as arguments and print tokens.
    const failed = (how: string) =>
      new KubeconfigError(`kubeconfig: users[${user}].exec ${command} ${how}`);
    const { stdout } = await run(command, args, {
      env: { ...env, ...extra, KUBERNETES_EXEC_INFO: JSON.stringify(info) },
      timeout: 60_000,
      maxBuffer: 1 << 20,
    }).catch((error: { code?: unknown; signal?: unknown }) => {
      throw failed(
        `failed (${error.signal ? `signal ${String(error.signal)}` : `exit code ${String(error.code)}`})`,
      );
    });
    let credential: Record<string, unknown>;
    try {
      credential = record(JSON.parse(stdout));
    } catch {
      throw failed('printed something that is not an ExecCredential (JSON)');
    }
    const status = record(credential.status);
    if (typeof status.token !== 'string' || !status.token)
      throw failed(
        'returned no status.token (client certificates from exec plugins are not supported)',
      );
    const expires = Date.parse(String(status.expirationTimestamp ?? ''));
    cached = {
      token: status.token,
      expiresAt: Number.isNaN(expires) ? Number.POSITIVE_INFINITY : expires - 10_000,
    };
    return status.token;
  };
  return {
    async token() {
      if (cached && Date.now() < cached.expiresAt) return cached.token;
      pending ??= fetchToken().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    invalidate: () => {
      cached = undefined;
      return true;
    },
  };
}
