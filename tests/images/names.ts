import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Debian bookworm base every image here is built on, made from Debian packages. */
export const DEBIAN_BASE = 'localhost/tse/debian:bookworm-minbase';

/**
 * The Node 24 base, under the name engine/Dockerfile and operator/Dockerfile use
 * (`node:24-slim` resolves to it), so the Dockerfiles stay the standard ones.
 */
export const NODE_BASE = 'docker.io/library/node:24-slim';

/** The store images for testcontainers; TEST_POSTGRES_IMAGE and TEST_REDIS_IMAGE choose others. */
export const STORE_IMAGES = {
  postgres: 'localhost/tse/postgres:15',
  redis: 'localhost/tse/redis:7',
} as const;

/** The label that records the recipe a base image was built from. */
export const RECIPE_LABEL = 'io.tse.recipe';

/** The images the product ships, by workspace package. */
export const PRODUCTS = {
  engine: { repository: 'localhost/tse/trading-engine', dockerfile: 'engine/Dockerfile' },
  operator: {
    repository: 'localhost/tse/trading-engine-operator',
    dockerfile: 'operator/Dockerfile',
  },
} as const;

/** The name of a product image. */
export type Product = keyof typeof PRODUCTS;

/** The reference of a product image: its repository tagged with the package's version. */
export function productRef(root: string, product: Product): string {
  const manifest = JSON.parse(readFileSync(join(root, product, 'package.json'), 'utf8')) as {
    version: string;
  };
  return `${PRODUCTS[product].repository}:${manifest.version}`;
}

/** The cache directory outside the checkout for downloads, archives and the manifest. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tse', 'images');
}
