import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { loadConfig, startEngine } from '@tse/engine';
import { type Load, loadInChild } from './load.ts';
import { printTable, round, timed } from './report.ts';

/**
 * /api/v1/health of the engine against a bare node:http server answering the
 * same JSON, each loaded the same way in the same run by autocannon in a
 * process of its own (so the servers' process runs only the servers); then
 * /metrics render time.
 */
export async function engineHealthBench(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '10' },
      connections: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '2' },
    },
  });
  const duration = Number(values.seconds);
  const connections = Number(values.connections);
  const quiet = new Writable({ write: (_, __, done) => done() });
  const engine = await startEngine(
    loadConfig({
      SERVICE_INSTANCE_NAME: 'trading-system-engine-LH',
      HTTP_PORT: '0',
      GRPC_PORT: '0',
      MANAGEMENT_PORT: '0',
    }),
    {
      host: '127.0.0.1',
      logDestination: quiet,
    },
  );
  const body = JSON.stringify(engine.status.report());
  const bare = createServer((_, response) => {
    // The same work the engine does: a fresh report with its timestamp, serialised.
    const report = { ...JSON.parse(body), timestamp: new Date().toISOString() };
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify(report));
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', resolve));
  const barePort = (bare.address() as { port: number }).port;

  // Both servers live in this process and are loaded one at a time, so this
  // process's CPU time during a load is what that server spent on it.
  const load = async (url: string): Promise<Load & { cpu: number }> => {
    const before = process.cpuUsage();
    const result = await loadInChild({ url, connections, duration, pipelining: 1 });
    const used = process.cpuUsage(before);
    return { ...result, cpu: (used.user + used.system) / Math.max(1, result.rps * duration) };
  };
  const runs: { engine: Load & { cpu: number }; bare: Load & { cpu: number } }[] = [];
  for (let round = 0; round < Number(values.rounds); round++) {
    // Alternate the order so that neither side always runs on a warmer machine.
    const first = round % 2 === 0;
    const a = await load(
      first
        ? `http://127.0.0.1:${engine.ports.http}/api/v1/health`
        : `http://127.0.0.1:${barePort}/`,
    );
    const b = await load(
      first
        ? `http://127.0.0.1:${barePort}/`
        : `http://127.0.0.1:${engine.ports.http}/api/v1/health`,
    );
    runs.push(first ? { engine: a, bare: b } : { engine: b, bare: a });
  }
  const metricsRenders: number[] = [];
  for (let i = 0; i < 200; i++) {
    const { seconds } = await timed(() =>
      fetch(`http://127.0.0.1:${engine.ports.management}/metrics`).then((r) => r.text()),
    );
    metricsRenders.push(seconds * 1000);
  }
  await engine.stop();
  bare.close();

  const mean = (pick: (run: (typeof runs)[number]) => number) =>
    runs.reduce((sum, run) => sum + pick(run), 0) / runs.length;
  const engineRps = mean((run) => run.engine.rps);
  const bareRps = mean((run) => run.bare.rps);
  printTable(
    `/api/v1/health, ${connections} connections, ${duration}s x ${runs.length} rounds each`,
    [
      {
        server: 'engine (fastify)',
        requests_per_s: round(engineRps),
        p99_ms: round(mean((r) => r.engine.p99)),
        cpu_us_per_request: round(mean((r) => r.engine.cpu)),
        errors: runs.reduce((s, r) => s + r.engine.errors, 0),
      },
      {
        server: 'bare node:http',
        requests_per_s: round(bareRps),
        p99_ms: round(mean((r) => r.bare.p99)),
        cpu_us_per_request: round(mean((r) => r.bare.cpu)),
        errors: runs.reduce((s, r) => s + r.bare.errors, 0),
      },
    ],
  );
  const sortedRenders = [...metricsRenders].sort((a, b) => a - b);
  return {
    requests_per_second: round(engineRps),
    baseline_requests_per_second: round(bareRps),
    ratio: round(engineRps / bareRps),
    p99_ms: round(mean((r) => r.engine.p99)),
    baseline_p99_ms: round(mean((r) => r.bare.p99)),
    metrics_render_ms_p50: round(sortedRenders[Math.floor(sortedRenders.length / 2)] ?? 0),
    // The servers' own cost, which the rate hides when the load generator is what saturates.
    cpu_us_per_request: round(mean((r) => r.engine.cpu)),
    baseline_cpu_us_per_request: round(mean((r) => r.bare.cpu)),
    cpu_ratio: round(mean((r) => r.engine.cpu) / mean((r) => r.bare.cpu)),
  };
}
