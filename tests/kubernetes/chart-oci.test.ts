import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cachedBinary } from '../cluster/binaries.ts';
import { kube } from '../support/kube.ts';
import { type Registry, startRegistry } from '../support/registry.ts';

// The chart as users get it from a registry: packaged, pushed as an OCI
// artifact to a real registry (CNCF distribution) and installed from there.
const chart = fileURLToPath(new URL('../../helm/trading-engine-operator', import.meta.url));
const namespace = `oci-${randomBytes(3).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'tse-oci-'));
let registry: Registry;
let address: string;

/** helm, asynchronously: the registry's output is read by this process meanwhile. */
async function helm(...args: string[]) {
  const child = spawn(cachedBinary('helm'), args, {
    env: {
      ...process.env,
      KUBECONFIG: inject('kubeconfig'),
      HELM_REGISTRY_CONFIG: join(work, 'registry.json'),
    },
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { status, output };
}

beforeAll(async () => {
  registry = await startRegistry();
  address = registry.address;
  await kube(inject('kubeconfig')).core.createNamespace({
    body: { metadata: { name: namespace } },
  });
});

afterAll(async () => {
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the packaged chart', () => {
  it('is pushed to an OCI registry and installed from it', async () => {
    const packaged = await helm('package', chart, '--destination', work);
    expect(packaged.status).toBe(0);
    const archive = /saved it to: (\S+\.tgz)/.exec(packaged.output)?.[1];
    expect(archive).toMatch(/trading-engine-operator-\d+\.\d+\.\d+\.tgz$/);

    const pushed = await helm('push', archive as string, `oci://${address}/charts`, '--plain-http');
    expect(pushed.output).toMatch(
      /Pushed: 127\.0\.0\.1:\d+\/charts\/trading-engine-operator:\d+\.\d+\.\d+/,
    );
    expect(pushed.output).toMatch(/Digest: sha256:[0-9a-f]{64}/);
    expect(pushed.status).toBe(0);

    const reference = `oci://${address}/charts/trading-engine-operator`;
    const shown = await helm('show', 'chart', reference, '--plain-http');
    expect(shown.output).toMatch(/^name: trading-engine-operator$/m);

    const installed = await helm(
      'install',
      'oci-teo',
      reference,
      '--plain-http',
      '--namespace',
      namespace,
      '--take-ownership',
      '--wait',
      '--timeout',
      '120s',
    );
    expect(installed.output).toMatch(/STATUS: deployed/);
    expect(installed.status).toBe(0);
    const deployment = await kube(inject('kubeconfig')).apps.readNamespacedDeployment({
      namespace,
      name: 'oci-teo-trading-engine-operator',
    });
    expect(deployment.metadata?.labels?.['helm.sh/chart']).toMatch(/^trading-engine-operator-/);
    expect(
      spawnSync(cachedBinary('helm'), ['uninstall', 'oci-teo', '-n', namespace], {
        env: { ...process.env, KUBECONFIG: inject('kubeconfig') },
      }).status,
    ).toBe(0);
  }, 300_000);
});
