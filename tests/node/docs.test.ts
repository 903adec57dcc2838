import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runShellBlock, shellBlocks } from '../support/doc-blocks.ts';
import { installCrd, installServiceMonitorCrd, kube } from '../support/kube.ts';

// docs/install.md promises that its `sh` blocks run as written; this runs
// them, in order, as a user would on their cluster: here the local cluster's
// real node, where the chart's operator and the engines run as pods.
const root = fileURLToPath(new URL('../../', import.meta.url));
const page = readFileSync(join(root, 'docs/install.md'), 'utf8');

/** The image references the page names, and the built images that stand for them. */
function pageImages(): Map<string, string> {
  const images = inject('images');
  const named = (pattern: RegExp) => page.match(pattern)?.[0];
  const operator = `${named(/(?<=image\.repository=)\S+/)}:${named(/(?<=image\.tag=)\S+/)}`;
  const engine = named(/(?<=engineImage=)\S+/);
  if (!engine || operator.includes('undefined')) throw new Error('docs/install.md names no images');
  return new Map([
    [operator, images.operator],
    [engine, images.engine],
  ]);
}

beforeAll(async () => {
  // The node holds the images under the names the page uses, as if pulled from
  // its registry (the chart's pull policy is IfNotPresent).
  const { binary, socket } = inject('nodeCtr');
  for (const [name, built] of pageImages()) {
    const ctr = (...args: string[]) =>
      spawnSync(binary, ['--address', socket, '--namespace', 'k8s.io', 'images', ...args], {
        encoding: 'utf8',
      });
    ctr('rm', name);
    const tagged = ctr('tag', built, name);
    if (tagged.status !== 0) throw new Error(`ctr images tag ${built} ${name}: ${tagged.stderr}`);
  }
  // The CRD exists before the chart installs, as when it was applied from
  // crds/ by hand, so the page's --take-ownership is exercised; Prometheus
  // Operator's CRDs exist, as the page's monitoring step needs.
  const k = kube(inject('kubeconfig'));
  await installCrd(k);
  await installServiceMonitorCrd(k);
});

afterAll(() => {
  // Whatever step failed, leave no second operator behind for the other files.
  const kubectl = (...args: string[]) =>
    spawnSync(inject('kubectl'), ['--kubeconfig', inject('kubeconfig'), ...args], {
      encoding: 'utf8',
    });
  kubectl('delete', 'tei', '--all', '-n', 'trading', '--timeout=120s');
  spawnSync(
    inject('helm'),
    [
      '--kubeconfig',
      inject('kubeconfig'),
      'uninstall',
      'trading',
      '-n',
      'trading-system',
      '--wait',
    ],
    {
      encoding: 'utf8',
    },
  );
  kubectl('delete', 'namespace', 'trading-system', '--timeout=120s');
});

/** Runs one block with the page's environment: the cluster, the tools, the admin URLs. */
function runBlock(block: string, cwd: string) {
  const stores = inject('stores');
  return runShellBlock(block, {
    cwd,
    env: {
      KUBECONFIG: inject('kubeconfig'),
      PATH: [dirname(inject('kubectl')), dirname(inject('helm')), process.env.PATH].join(':'),
      // As pods reach them; this machine reaches the same addresses.
      POSTGRES_ADMIN_URL: stores.postgres,
      REDIS_ADMIN_URL: stores.redis,
    },
  });
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
      expect(result.stderr, result.stderr).not.toMatch(/^(Error|error)\b/m);
      expect(result.status).toBe(0);
    }
    const stdout = outputs.join('\n');
    expect(stdout).toMatch(/tradingengineinstance.trading.tse.io\/lh condition met/);
    expect(stdout).toMatch(/tradingengineinstance.trading.tse.io\/lh scaled/);
    expect(stdout).toMatch(/release "trading" uninstalled/);
  }, 600_000);
});
