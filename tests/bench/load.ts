// Runs autocannon in a process of its own, so that the load generator does not
// share an event loop (and a garbage collector) with the server it measures.
// `node tests/bench/load.ts '<options JSON>'` prints autocannon's result as JSON;
// loadInChild() is how the benchmarks call it.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';

/** What the benchmarks read of an autocannon run. */
export interface Load {
  /** Mean requests per second. */
  rps: number;
  p99: number;
  /** Socket errors (timeouts among them) and non-2xx answers together. */
  errors: number;
}

/** Runs autocannon with `options` in a child process and waits for its figures. */
export function loadInChild(options: autocannon.Options): Promise<Load> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [fileURLToPath(import.meta.url), JSON.stringify(options)],
      { maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`load generator failed: ${stderr || error.message}`));
        else resolve(JSON.parse(stdout) as Load);
      },
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = JSON.parse(process.argv[2] ?? '{}') as autocannon.Options;
  const result = await autocannon(options);
  const figures: Load = {
    rps: result.requests.average,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx,
  };
  process.stdout.write(JSON.stringify(figures));
}
