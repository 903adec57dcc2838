import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEBIAN_BASE, type Product, productRef } from '../images/names.ts';
import { imageId, podman } from '../images/podman.ts';
import { BUILD_CA_PATH } from '../images/products.ts';
import type { CommandError } from '../images/run.ts';
import { freePort, waitFor } from '../support/processes.ts';

// Checks the images `npm run images` built: that they run as the product is
// meant to, and that nothing of the build machine (its proxy's CA above all)
// reached a layer of them.

const root = fileURLToPath(new URL('../..', import.meta.url));
const products: Product[] = ['engine', 'operator'];
const refs = Object.fromEntries(products.map((name) => [name, productRef(root, name)])) as Record<
  Product,
  string
>;

const BEGIN = '-----BEGINCERTIFICATE-----';

/** The certificates of a PEM bundle, whitespace removed (so BEGIN loses its spaces). */
function certificates(bundle: string): Set<string> {
  const found = bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  return new Set((found ?? []).map((pem) => pem.replace(/\s+/g, '')));
}

/** The certificates Debian's ca-certificates package installed on this machine. */
function debianPackageCertificates(): string[] {
  const dir = '/usr/share/ca-certificates/mozilla';
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((file) => [
    ...certificates(readFileSync(join(dir, file), 'utf8')),
  ]);
}

async function readInImage(ref: string, path: string): Promise<string> {
  return (await podman(['run', '--rm', '--entrypoint', 'cat', ref, path])).stdout;
}

beforeAll(async () => {
  for (const ref of [...Object.values(refs), DEBIAN_BASE]) {
    if (!(await imageId(ref)))
      throw new Error(`${ref} is missing: build it with \`npm run images\``);
  }
});

/** Runs an image as uid 1000 in the background with one port published on loopback. */
async function runAsUser1000(
  ref: string,
  env: Record<string, string>,
  containerPort: number,
): Promise<{ container: string; url: string }> {
  const port = await freePort();
  const { stdout } = await podman([
    'run',
    '--detach',
    '--rm',
    '--user',
    '1000:1000',
    ...Object.entries(env).flatMap(([name, value]) => ['--env', `${name}=${value}`]),
    '--publish',
    `127.0.0.1:${port}:${containerPort}`,
    ref,
  ]);
  return { container: stdout.trim(), url: `http://127.0.0.1:${port}` };
}

async function remove(container: string): Promise<void> {
  await podman(['rm', '--force', '--time', '2', container]).catch(() => {});
}

describe('the engine image', () => {
  it('serves its health and identity as uid 1000, in memory without stores', async () => {
    const { container, url } = await runAsUser1000(
      refs.engine,
      { HTTP_PORT: '9083', SERVICE_INSTANCE_NAME: 'trading-system-engine-LH' },
      9083,
    );
    try {
      const health = await waitFor('the engine in its container to answer', async () => {
        const response = await fetch(`${url}/api/v1/health`);
        return response.ok ? ((await response.json()) as Record<string, unknown>) : undefined;
      });
      expect(health).toMatchObject({
        status: 'healthy',
        service: 'trading-system-engine',
        instance: 'trading-system-engine-LH',
        postgres_schema: 'trading_system_engine_lh',
        redis_namespace: 'trading_system:LH',
        dependencies: { postgres: { status: 'memory' }, redis: { status: 'memory' } },
      });
      const user = await podman(['exec', container, 'id', '-u']);
      expect(user.stdout.trim()).toBe('1000');
      // The image's own HEALTHCHECK (kept by the docker format) passes: exit 0.
      await expect(podman(['healthcheck', 'run', container])).resolves.toBeDefined();
    } finally {
      await remove(container);
    }
  });
});

describe('the operator image', () => {
  it('starts as uid 1000 and serves its liveness and metrics before it finds a cluster', async () => {
    const { container, url } = await runAsUser1000(refs.operator, { METRICS_PORT: '9080' }, 9080);
    try {
      const live = await waitFor('the operator in its container to answer', async () => {
        const response = await fetch(`${url}/healthz`);
        return response.ok ? response.status : undefined;
      });
      expect(live).toBe(200);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('# TYPE controller_runtime_reconcile_total counter');
    } finally {
      await remove(container);
    }
  });
});

describe.each(products)('the %s image', (product) => {
  it("holds Debian's CA bundle and no certificate of the build machine's own", async () => {
    const ref = refs[product];
    const bundle = await readInImage(ref, '/etc/ssl/certs/ca-certificates.crt');
    expect(bundle).toBe(await readInImage(DEBIAN_BASE, '/etc/ssl/certs/ca-certificates.crt'));

    // The machine's own CAs: in its bundle but from no Debian package (a
    // TLS-intercepting proxy's, added under /usr/local/share/ca-certificates).
    const debian = new Set([...certificates(bundle), ...debianPackageCertificates()]);
    const machineBundles = ['/etc/ssl/certs/ca-certificates.crt', process.env.NODE_EXTRA_CA_CERTS];
    const machineOnly = machineBundles
      .filter((path): path is string => Boolean(path && existsSync(path)))
      .flatMap((path) => [...certificates(readFileSync(path, 'utf8'))])
      .filter((pem) => !debian.has(pem));
    const lines = machineOnly.map((pem) => pem.slice(BEGIN.length, BEGIN.length + 64));
    if (lines.length > 0) {
      const patterns = lines.flatMap((line) => ['-e', line]);
      const search = podman([
        'run',
        '--rm',
        '--user',
        '0',
        '--entrypoint',
        'grep',
        ref,
        '-rlsF',
        ...patterns,
        '/app',
        '/etc',
        '/usr/local',
        '/home',
        '/root',
        '/tmp',
      ]);
      // grep exits 1 when nothing matched.
      await expect(search).rejects.toSatisfy((error) => (error as CommandError).status === 1);
    }
  });

  it('records no build-time CA setting in its configuration or history', async () => {
    const ref = refs[product];
    const { stdout: config } = await podman([
      'image',
      'inspect',
      '--format',
      '{{json .Config}}',
      ref,
    ]);
    const { stdout: history } = await podman([
      'history',
      '--no-trunc',
      '--format',
      '{{.CreatedBy}}',
      ref,
    ]);
    for (const text of [config, history]) {
      expect(text).not.toContain('NODE_EXTRA_CA_CERTS');
      expect(text).not.toContain(BUILD_CA_PATH);
    }
    expect(JSON.parse(config).User).toBe('node');
  });
});
