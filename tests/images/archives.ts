import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, type Product } from './names.ts';
import { podman } from './podman.ts';

/** A product image exported for a node: its reference, its OCI archive and its image ID. */
export interface ImageArchive {
  name: Product;
  ref: string;
  archive: string;
  id: string;
}

/** The manifest the last `npm run images` wrote, in the cache directory. */
export function manifestPath(cache = cacheDir()): string {
  return join(cache, 'images.json');
}

/**
 * The product images the last `npm run images` built and exported, for a node to
 * import (`ctr -n k8s.io images import <archive>`); fails when there was no build.
 */
export function imageArchives(cache = cacheDir()): ImageArchive[] {
  const path = manifestPath(cache);
  if (!existsSync(path)) throw new Error(`no ${path}: run \`npm run images\` first`);
  const archives = (JSON.parse(readFileSync(path, 'utf8')) as { images: ImageArchive[] }).images;
  const missing = archives.find((image) => !existsSync(image.archive));
  if (missing) throw new Error(`${missing.archive} is gone: run \`npm run images\` again`);
  return archives;
}

/** The archives the manifest lists, or none when there is no manifest yet. */
function previousArchives(cache: string): ImageArchive[] {
  try {
    return imageArchives(cache);
  } catch {
    return [];
  }
}

/**
 * Saves an image as an OCI archive in the cache unless the archive there already
 * holds this image ID; written to a temporary name first so a reader never sees half.
 */
export async function exportArchive(
  cache: string,
  image: { name: Product; ref: string; id: string },
): Promise<{ archive: ImageArchive; exported: boolean }> {
  const archive = join(cache, 'archives', `${image.name}.oci.tar`);
  const entry = { ...image, archive };
  const previous = previousArchives(cache).find((known) => known.name === image.name);
  if (previous?.id === image.id && previous.archive === archive && existsSync(archive)) {
    return { archive: entry, exported: false };
  }
  mkdirSync(join(cache, 'archives'), { recursive: true });
  const partial = `${archive}.partial`;
  rmSync(partial, { force: true });
  await podman(['save', '--format', 'oci-archive', '-o', partial, image.ref]);
  renameSync(partial, archive);
  return { archive: entry, exported: true };
}

/** Records the exported archives for `imageArchives()`. */
export function writeManifest(cache: string, images: ImageArchive[]): void {
  mkdirSync(cache, { recursive: true });
  const path = manifestPath(cache);
  writeFileSync(`${path}.partial`, `${JSON.stringify({ images }, null, 2)}\n`);
  renameSync(`${path}.partial`, path);
}
