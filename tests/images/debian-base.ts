import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type BaseOutcome, ensureBaseImage } from './base-image.ts';
import { DEBIAN_BASE, RECIPE_LABEL } from './names.ts';
import { imageIdFrom, podman } from './podman.ts';
import { recipeHash } from './recipe.ts';
import { run } from './run.ts';

/** The Debian mirrors the base is bootstrapped from (and that its apt sources name). */
export interface DebianMirrors {
  main: string;
  security: string;
}

/** Debian's own mirrors, over plain HTTP (apt checks the signatures). */
export const DEFAULT_MIRRORS: DebianMirrors = {
  main: 'http://deb.debian.org/debian',
  security: 'http://deb.debian.org/debian-security',
};

/**
 * Like Debian's slim images: no manual pages, info pages, translations or
 * documentation but the copyright files. The rules stay in the image's dpkg
 * configuration, so packages installed on top of it are slim too.
 */
const SLIM = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
];

/**
 * The mmdebstrap arguments for the base: minbase (apt, dpkg and the essential
 * packages), slim, Debian's CA bundle, and libstdc++ which the official Node binary links.
 */
export function debianBootstrapArgs(mirrors: DebianMirrors, tarball: string): string[] {
  return [
    '--variant=minbase',
    ...SLIM.map((rule) => `--dpkgopt=${rule}`),
    '--include=ca-certificates,libstdc++6',
    'bookworm',
    tarball,
    `deb ${mirrors.main} bookworm main`,
    `deb ${mirrors.main} bookworm-updates main`,
    `deb ${mirrors.security} bookworm-security main`,
  ];
}

/**
 * Builds the Debian base with mmdebstrap and imports it, unless an image built
 * from the same recipe is already there (see ensureBaseImage); says which it did.
 */
export async function ensureDebianBase(
  cache: string,
  mirrors: DebianMirrors,
  options: { echo?: boolean } = {},
): Promise<BaseOutcome> {
  const recipe = recipeHash(debianBootstrapArgs(mirrors, 'base.tar'));
  return ensureBaseImage(DEBIAN_BASE, recipe, async () => {
    // A directory of this build's own: another checkout may be building too.
    mkdirSync(cache, { recursive: true });
    const work = mkdtempSync(join(cache, 'debian-'));
    const tarball = join(work, 'base.tar');
    try {
      await run('mmdebstrap', debianBootstrapArgs(mirrors, tarball), options);
      const { stdout } = await podman(
        [
          'import',
          '--change',
          `LABEL ${RECIPE_LABEL}=${recipe}`,
          '--change',
          'CMD ["/bin/bash"]',
          tarball,
        ],
        options,
      );
      return imageIdFrom(stdout);
    } finally {
      // The tarball is only the way in: the image holds the same bytes.
      rmSync(work, { recursive: true, force: true });
    }
  });
}
