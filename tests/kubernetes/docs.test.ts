import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cachedBinary } from '../cluster/binaries.ts';
import { installCrd, installServiceMonitorCrd, kube } from '../support/kube.ts';
import { type InProcessOperator, runOperator } from '../support/operator.ts';
import { findPostgresBinaries, type StoreServer, startLocalPostgres } from '../support/postgres.ts';
import { findRedisServer, startLocalRedis } from '../support/redis.ts';

// docs/install.md promises that its `sh` blocks run as written; this runs
// them, in order, as a user would on their cluster.
const root = fileURLToPath(new URL('../../', import.meta.url));
const page = readFileSync(join(root, 'docs/install.md'), 'utf8');

/** The page's `sh` blocks, in order. */
function shellBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1] ?? '');
}

const stores: StoreServer[] = [];
let operator: InProcessOperator | undefined;

beforeAll(async () => {
  if (!inject('clusterFull'))
    throw new Error(
      'docs/install.md needs the full local cluster (controllers, scheduler, KWOK nodes)',
    );
  const postgres = findPostgresBinaries();
  const redis = findRedisServer();
  if (!postgres || !redis)
    throw new Error('docs/install.md needs PostgreSQL and Redis server binaries');
  // Servers of its own: the page provisions the seed's names, which other files use too.
  stores.push(await startLocalPostgres(postgres), await startLocalRedis(redis));
  // The CRD exists before the chart installs, as when it was applied from
  // crds/ by hand, so the page's --take-ownership is exercised.
  const k = kube(inject('kubeconfig'));
  await installCrd(k);
  await installServiceMonitorCrd(k);
});

afterAll(async () => {
  await operator?.stop();
  for (const store of stores) await store.stop();
});

/**
 * Runs one block in bash with the page's environment: the cluster, the tools,
 * the admin URLs. Asynchronously: the operator runs in this process.
 */
async function runBlock(block: string, cwd: string) {
  const child = spawn('bash', ['-c', `set -euxo pipefail\n${block}`], {
    cwd,
    env: {
      ...process.env,
      KUBECONFIG: inject('kubeconfig'),
      PATH: [dirname(inject('kubectl')), dirname(cachedBinary('helm')), process.env.PATH].join(':'),
      POSTGRES_ADMIN_URL: stores[0]?.url,
      REDIS_ADMIN_URL: stores[1]?.url,
    },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const [status] = (await once(child, 'close')) as [number | null];
  return { status, stdout, stderr };
}

describe('docs/install.md', () => {
  it('has the steps a user runs: secrets, helm install, an instance, monitoring, backup, restore, uninstall', () => {
    const commands = shellBlocks(page).join('\n');
    for (const step of [
      'create secret generic postgres-admin',
      'helm install trading',
      '--take-ownership',
      'scale tei/lh',
      'metrics.prometheusRule.enabled=true',
      'pg_dump',
      'pg_restore',
      'helm uninstall',
    ])
      expect(commands).toContain(step);
  });

  it('runs every sh block as written, against a real API server, PostgreSQL and Redis', async () => {
    // A scratch directory holding the repository's chart and examples, so
    // the backup files the page writes land outside the checkout.
    const cwd = mkdtempSync(join(tmpdir(), 'tse-docs-'));
    for (const dir of ['helm', 'examples', 'crds']) symlinkSync(join(root, dir), join(cwd, dir));
    const outputs: string[] = [];
    for (const block of shellBlocks(page)) {
      const result = await runBlock(block, cwd);
      outputs.push(result.stdout);
      expect(result.stderr).not.toMatch(/^(Error|error)\b/m);
      expect(result.status).toBe(0);
      if (block.includes('helm install')) {
        // The chart's operator pods run on KWOK nodes, which run no code; this
        // operator does their work from here on, configured as the chart configures them.
        operator = await runOperator({
          KUBECONFIG: inject('kubeconfig'),
          POSTGRES_ADMIN_URL: stores[0]?.url ?? '',
          REDIS_ADMIN_URL: stores[1]?.url ?? '',
          WATCH_NAMESPACES: 'trading',
        });
      }
    }
    const stdout = outputs.join('\n');
    expect(stdout).toMatch(/tradingengineinstance.trading.tse.io\/lh condition met/);
    expect(stdout).toMatch(/tradingengineinstance.trading.tse.io\/lh scaled/);
    expect(stdout).toMatch(/release "trading" uninstalled/);
  }, 600_000);
});
