import { join } from 'node:path';
import { PRODUCTS, type Product, productRef, STORE_IMAGES } from './names.ts';
import { imageId, podman } from './podman.ts';

/** Where the dependencies stage sees the build machine's CA bundle, when one is given. */
export const BUILD_CA_PATH = '/run/build-ca/ca-certificates.crt';

/**
 * The `podman build` arguments for a product image. A CA bundle (for a
 * TLS-intercepting proxy in front of the npm registry) is bind-mounted for the
 * build's RUN steps and named by a build argument that only the dependencies
 * stage declares, so no layer or history entry of the final image holds it.
 */
export function productBuildArgs(root: string, product: Product, caFile?: string): string[] {
  const ca = caFile
    ? ['--build-arg', `NODE_EXTRA_CA_CERTS=${BUILD_CA_PATH}`, '-v', `${caFile}:${BUILD_CA_PATH}:ro`]
    : [];
  return [
    'build',
    // The docker format keeps HEALTHCHECK, which the OCI image format drops.
    '--format',
    'docker',
    // The Node base is local (built here), never pulled.
    '--pull=never',
    ...ca,
    '-f',
    join(root, PRODUCTS[product].dockerfile),
    '-t',
    productRef(root, product),
    root,
  ];
}

/** Builds a product image (podman's layer cache skips what did not change); returns its ref and ID. */
export async function buildProduct(
  root: string,
  product: Product,
  options: { echo?: boolean; caFile?: string } = {},
): Promise<{ ref: string; id: string }> {
  const ref = productRef(root, product);
  await podman(productBuildArgs(root, product, options.caFile), options);
  const id = await imageId(ref);
  if (!id) throw new Error(`podman build did not leave ${ref}`);
  return { ref, id };
}

/** Builds a store image for testcontainers from the Debian base (by ID); returns its ref. */
export async function buildStoreImage(
  root: string,
  store: keyof typeof STORE_IMAGES,
  debianBase: string,
  options: { echo?: boolean } = {},
): Promise<string> {
  const dir = join(root, 'tests/images', store);
  await podman(
    [
      'build',
      '--format',
      'docker',
      '--pull=never',
      '--build-arg',
      `BASE=${debianBase}`,
      '-f',
      join(dir, 'Containerfile'),
      '-t',
      STORE_IMAGES[store],
      dir,
    ],
    options,
  );
  return STORE_IMAGES[store];
}
