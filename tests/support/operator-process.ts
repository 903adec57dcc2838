import { fileURLToPath } from 'node:url';
import { compiledOperator } from './compiled-operator.ts';
import { freePort, type Guarded, spawnGuarded, waitFor } from './processes.ts';

const main = fileURLToPath(new URL('../../operator/src/main.ts', import.meta.url));

/** The operator running as its own process, as its Deployment would run it. */
export interface OperatorProcess {
  process: Guarded;
  metricsUrl: string;
  logs(): Record<string, unknown>[];
  /** controller_runtime_reconcile_total summed over results. */
  reconciles(): Promise<number>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * Starts `operator/src/main.ts` with the environment, metrics on a free port;
 * with `compiled`, the JavaScript the image runs (see compiled-operator.ts).
 */
export async function startOperatorProcess(
  env: Record<string, string>,
  options: { compiled?: boolean } = {},
): Promise<OperatorProcess> {
  const port = await freePort();
  const args = options.compiled ? compiledOperator() : [main];
  const child = spawnGuarded('operator', process.execPath, args, {
    env: {
      PATH: process.env.PATH,
      LOG_LEVEL: 'info',
      ...env,
      METRICS_PORT: String(port),
      METRICS_HOST: '127.0.0.1',
    },
  });
  // Every JSON log line, kept whole (the guard keeps only the last chunks of output).
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  child.child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const complete = text.split('\n');
    partial = complete.pop() ?? '';
    for (const line of complete)
      if (line.startsWith('{'))
        try {
          lines.push(JSON.parse(line));
        } catch {
          // not a log line
        }
  });
  const metricsUrl = `http://127.0.0.1:${port}/metrics`;
  await waitFor(
    'the operator to serve /healthz',
    async () => ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok ? true : undefined),
    {
      process: child,
    },
  );
  const exited = new Promise<void>((resolve) => child.child.once('exit', () => resolve()));
  return {
    process: child,
    metricsUrl,
    logs: () => [...lines],
    async reconciles() {
      const text = await (await fetch(metricsUrl)).text();
      return [...text.matchAll(/^controller_runtime_reconcile_total\{[^}]*\} (\d+)$/gm)].reduce(
        (sum, match) => sum + Number(match[1]),
        0,
      );
    },
    async kill(signal) {
      child.child.kill(signal);
      await exited;
    },
  };
}
