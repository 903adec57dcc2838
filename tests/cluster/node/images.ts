import { existsSync } from 'node:fs';
import { imageArchives, manifestPath } from '../../images/archives.ts';
import type { RealNode } from './real-node.ts';

/**
 * Loads the product images `npm run images` last built onto the node (what a
 * registry pull would do elsewhere); returns their references. None when no
 * build has happened yet.
 */
export function loadBuiltImages(node: RealNode): string[] {
  if (!existsSync(manifestPath())) return [];
  return imageArchives().map(({ archive, ref }) => {
    node.loadImage(archive, ref);
    return ref;
  });
}
