import { DEBIAN_BASE, productRef } from './names.ts';
import { imageId } from './podman.ts';

/**
 * The images the integration tests run that are not built yet (all of them when
 * podman itself is missing), with the command that builds them; empty when all are there.
 */
export async function missingImages(
  root: string,
  stores: Record<string, string>,
): Promise<string[]> {
  const wanted = [
    DEBIAN_BASE,
    productRef(root, 'engine'),
    productRef(root, 'operator'),
    ...Object.values(stores),
  ];
  try {
    const missing: string[] = [];
    for (const ref of wanted) if (!(await imageId(ref))) missing.push(ref);
    return missing.length === 0
      ? []
      : [`images ${missing.join(', ')}: run npm run images -- --stores`];
  } catch {
    return [
      'podman, to build and run the images: apt-get install podman runc mmdebstrap (see .ci/setup)',
    ];
  }
}
