import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { imageArchives } from '../images/archives.ts';
import { withBuildLock } from '../images/lock.ts';
import { cacheDir } from '../images/names.ts';
import {
  type BlockResult,
  runShellBlock,
  type Substitution,
  shellBlocks,
  substitute,
} from '../support/doc-blocks.ts';
import { getJson, helm, kubectl, ok } from '../support/node-tools.ts';
import { type Registry, startRegistry } from '../support/registry.ts';

// docs/images.md promises that its `sh` blocks run as written; this runs them,
// in order, from the repository root: podman builds, `npm run images`, the
// archives imported into the real node's containerd, a push to a registry,
// the chart installed with those images, testcontainers on a podman socket.
// What stands for the user's own things is substituted, each substitution
// below saying why; the Docker and kind commands are `console` blocks (this
// machine has no Docker engine).
const root = fileURLToPath(new URL('../../', import.meta.url));
const page = readFileSync(join(root, 'docs/images.md'), 'utf8');
// The page's release and namespace; docs.test.ts uses this namespace too (files run one at a time).
const RELEASE = 'teo';
const NAMESPACE = 'trading-system';
const work = mkdtempSync(join(tmpdir(), 'tse-images-docs-'));
let registry: Registry | undefined;

/** The page's blocks with what stands for the user's things replaced by this machine's. */
function blocks(registryAddress: string): string[] {
  const { binary, socket } = inject('nodeCtr');
  const substitutions: Substitution[] = [
    {
      from: 'ctr -n k8s.io',
      to: `${binary} --address ${socket} -n k8s.io`,
      why: "the real node's ctr, on its containerd's socket",
    },
    {
      from: '~/.cache/tse/images',
      to: cacheDir(),
      why: 'the cache directory `npm run images` used (XDG_CACHE_HOME)',
    },
    {
      from: 'registry.example.com',
      to: registryAddress,
      why: "a registry of the test's own (CNCF distribution, from the binary cache)",
    },
    {
      from: 'podman push ',
      to: 'podman push --tls-verify=false ',
      why: 'that registry speaks plain HTTP',
    },
    {
      from: '/tmp/podman.sock',
      to: join(work, 'podman.sock'),
      why: 'a socket of this run, not one another checkout may use',
    },
    {
      from: 'npm test',
      to: 'npm test -- --project integration tests/integration/stores.test.ts',
      why: 'one test file on the stores testcontainers started, not the whole suite again',
    },
  ];
  return substitute(shellBlocks(page), substitutions);
}

/** The node's containerd listing of one image reference: `REF TYPE DIGEST SIZE …`. */
function nodeImage(ref: string): string {
  const { binary, socket } = inject('nodeCtr');
  const args = ['--address', socket, '-n', 'k8s.io', 'images', 'ls', `name==${ref}`];
  return execFileSync(binary, args, { encoding: 'utf8' });
}

/** Runs one block from the repository root with the cluster's kubeconfig and tools. */
function runBlock(block: string): Promise<BlockResult> {
  const run = () =>
    runShellBlock(block, {
      cwd: root,
      env: {
        KUBECONFIG: inject('kubeconfig'),
        PATH: [dirname(inject('helm')), process.env.PATH].join(':'),
      },
    });
  // A build of its own retags the engine image: it takes turns with other
  // builds from the same cache, as `npm run images` does (which takes the lock itself).
  return block.includes('podman build') ? withBuildLock(cacheDir(), run) : run();
}

beforeAll(async () => {
  registry = await startRegistry();
  // The admin Secrets the page's `helm install` names, made as docs/install.md step 2 makes them.
  const stores = inject('stores');
  ok(kubectl(['create', 'namespace', NAMESPACE]));
  for (const [name, url] of [
    ['postgres-admin', stores.postgres],
    ['redis-admin', stores.redis],
  ] as const)
    ok(
      kubectl(['-n', NAMESPACE, 'create', 'secret', 'generic', name, `--from-literal=url=${url}`]),
    );
});

/** Removes the page's release and namespace, the registry and the scratch directory. */
async function cleanUp() {
  helm(['uninstall', RELEASE, '-n', NAMESPACE, '--wait']);
  kubectl(['delete', 'namespace', NAMESPACE, '--ignore-not-found', '--timeout=120s']);
  await registry?.stop();
  rmSync(work, { recursive: true, force: true });
}

/** Processes whose command line names this run's scratch directory (the podman service's socket). */
function processesOfThisRun(): string[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .flatMap((pid) => {
      try {
        const command = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
        return command.includes(work) ? [command] : [];
      } catch {
        return [];
      }
    });
}

// Whatever step failed, leave no second operator behind for the other files.
afterAll(cleanUp);

describe('docs/images.md', () => {
  it('names the images the build makes', () => {
    const images = inject('images');
    expect(page).toContain(images.engine);
    expect(page).toContain(images.operator);
  });

  it('keeps the Docker and kind commands out of the sh blocks (no Docker engine runs them here)', () => {
    const commands = shellBlocks(page).join('\n');
    expect(commands).not.toMatch(/^\s*(docker|kind)\s/m);
    expect(page).toMatch(/^```console\n\$ docker build -f engine\/Dockerfile/m);
  });

  it('runs every sh block: builds, node import, registry push, helm install, testcontainers on podman', async () => {
    const address = registry?.address as string;
    const outputs: string[] = [];
    for (const block of blocks(address)) {
      const result = await runBlock(block);
      outputs.push(`${result.stdout}\n${result.stderr}`);
      expect(result.status, `${block}\n${result.stdout}\n${result.stderr}`).toBe(0);
    }
    const output = outputs.join('\n');
    const { engine, operator } = inject('images');

    // podman build with the CA mounted: the engine image under its reference.
    expect(output).toContain(`Successfully tagged ${engine}`);
    // npm run images, with --stores: the refs line, and the store images.
    expect(output).toContain(JSON.stringify({ engine, operator }));
    expect(output).toMatch(/^images: postgres image: localhost\/tse\/postgres:15 /m);
    expect(output).toMatch(/^images: redis image: localhost\/tse\/redis:7 /m);
    // ctr import: the node holds each archive's manifest under its full reference.
    for (const { ref, archive } of imageArchives()) {
      const index = JSON.parse(
        execFileSync('tar', ['-xOf', archive, 'index.json'], { encoding: 'utf8' }),
      ) as { manifests: { digest: string }[] };
      expect(nodeImage(ref)).toContain(` ${index.manifests[0]?.digest} `);
    }
    // podman push: both images in the registry, under the page's paths.
    expect(await registry?.tags('tse/trading-engine')).toEqual([engine.split(':')[1]]);
    expect(await registry?.tags('tse/trading-engine-operator')).toEqual([operator.split(':')[1]]);
    // helm install: the operator, from the imported image, becomes ready.
    expect(output).toMatch(/STATUS: deployed/);
    const deployment = `deployment/${RELEASE}-trading-engine-operator`;
    ok(kubectl(['-n', NAMESPACE, 'rollout', 'status', deployment, '--timeout=180s']));
    const pod = getJson<{ spec: { template: { spec: { containers: { image: string }[] } } } }>([
      deployment,
      '-n',
      NAMESPACE,
    ]).spec.template.spec;
    expect(pod.containers[0]?.image).toBe(operator);
    // testcontainers on the podman socket: the stores ran as containers of the built images.
    expect(output).toMatch(
      /integration stores: PostgreSQL in a container \(localhost\/tse\/postgres:15\); Redis in a container \(localhost\/tse\/redis:7\)/,
    );
    expect(stripVTControlCharacters(output)).toMatch(/Tests\s+2 passed/);
  }, 900_000);

  it('leaves no release, namespace, registry or podman service behind', async () => {
    await cleanUp();
    expect(helm(['status', RELEASE, '-n', NAMESPACE]).stderr).toMatch(/release: not found/);
    expect(kubectl(['get', 'namespace', NAMESPACE]).stderr).toMatch(/NotFound/);
    expect(registry?.process.child.exitCode ?? registry?.process.child.signalCode).not.toBeNull();
    expect(processesOfThisRun()).toEqual([]);
  });
});
