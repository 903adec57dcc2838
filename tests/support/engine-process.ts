import { fileURLToPath } from 'node:url';
import { freePort, type Guarded, recentOutput, spawnGuarded, waitFor } from './processes.ts';

const server = fileURLToPath(new URL('../../engine/src/server.ts', import.meta.url));

/** An engine running as its own process, as a pod would run it. */
export interface EngineProcess {
  url: string;
  grpcPort: number;
  process: Guarded;
  /** The JSON lines it has logged so far. */
  logs(): Record<string, unknown>[];
  /** GET a path and parse the JSON answer. */
  get(path: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Sends a signal and resolves with the exit code. */
  signal(signal: NodeJS.Signals): Promise<number | null>;
  /** Resolves with the exit code when the engine exits by itself. */
  exited(): Promise<number | null>;
}

/** Starts `engine/src/server.ts` with the given environment on free ports. */
export async function startEngineProcess(env: Record<string, string>): Promise<EngineProcess> {
  const [httpPort, grpcPort] = await Promise.all([freePort(), freePort()]);
  const child = spawnGuarded('engine', process.execPath, [server], {
    env: {
      PATH: process.env.PATH,
      ...env,
      HTTP_PORT: String(httpPort),
      GRPC_PORT: String(grpcPort),
    },
  });
  const url = `http://127.0.0.1:${httpPort}`;
  const get = async (path: string) => {
    const response = await fetch(`${url}${path}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
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
    process: child,
    logs: () =>
      recentOutput(child)
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line)),
    get,
    signal: async (signal) => {
      child.child.kill(signal);
      return exited;
    },
    exited: () => exited,
  };
}
