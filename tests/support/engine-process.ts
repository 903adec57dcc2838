import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { freePort, type Guarded, recentOutput, spawnGuarded, waitFor } from './processes.ts';

const server = fileURLToPath(new URL('../../engine/src/server.ts', import.meta.url));

/** An engine running as its own process, as a pod would run it. */
export interface EngineProcess {
  /** The trading API (and health). */
  url: string;
  grpcPort: number;
  /** Health and /metrics, unauthenticated. */
  managementUrl: string;
  managementPort: number;
  /** The trading token (API_TOKEN) it runs with; undefined when it runs open. */
  token: string | undefined;
  /** Headers that authenticate with the trading token (none when the engine runs open). */
  headers: Record<string, string>;
  process: Guarded;
  /** The JSON lines it has logged so far. */
  logs(): Record<string, unknown>[];
  /** GET a path of the API with the trading token and parse the JSON answer. */
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** POST JSON to a path of the API with the trading token. */
  post(path: string, body: unknown): Promise<Response>;
  /** Sends a signal and resolves with the exit code. */
  signal(signal: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code when the engine exits by itself. */
  exited(): Promise<number | null>;
}

/** A token as the operator would make one: 64 hex characters. */
export const newToken = () => randomBytes(32).toString('hex');

/**
 * Starts `engine/src/server.ts` with the given environment on free ports,
 * with a fresh API_TOKEN unless the environment sets one (`API_TOKEN: ''`
 * runs it open).
 */
export async function startEngineProcess(env: Record<string, string>): Promise<EngineProcess> {
  const [httpPort, grpcPort, managementPort] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
  ]);
  const token = 'API_TOKEN' in env ? env.API_TOKEN || undefined : newToken();
  const child = spawnGuarded('engine', process.execPath, [server], {
    env: {
      PATH: process.env.PATH,
      ...(token && { API_TOKEN: token }),
      ...env,
      HTTP_PORT: String(httpPort),
      GRPC_PORT: String(grpcPort),
      MANAGEMENT_PORT: String(managementPort),
    },
  });
  const url = `http://127.0.0.1:${httpPort}`;
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const get = async (path: string) => {
    const response = await fetch(`${url}${path}`, { headers });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const post = (path: string, body: unknown) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  await waitFor(
    'the engine to answer /api/v1/health',
    async () => ((await get('/api/v1/health')).status === 200 ? true : undefined),
    { process: child },
  );
  const exited = new Promise<number | null>((resolve) =>
    child.child.once('exit', (code) => resolve(code)),
  );
  return {
    url,
    grpcPort,
    managementUrl: `http://127.0.0.1:${managementPort}`,
    managementPort,
    token,
    headers,
    process: child,
    logs: () =>
      recentOutput(child)
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line)),
    get,
    post,
    signal: async (signal) => {
      child.child.kill(signal);
      return exited;
    },
    exited: () => exited,
  };
}
