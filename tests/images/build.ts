import { exportArchive, type ImageArchive, writeManifest } from './archives.ts';
import { ensureContainersConf } from './containers-conf.ts';
import { type DebianMirrors, ensureDebianBase } from './debian-base.ts';
import { type Product, STORE_IMAGES } from './names.ts';
import { ensureNodeBase } from './node-base.ts';
import { buildProduct, buildStoreImage } from './products.ts';

/** What to build and where. */
export interface BuildOptions {
  root: string;
  cache: string;
  mirrors: DebianMirrors;
  /** Also build the PostgreSQL and Redis images for testcontainers. */
  stores: boolean;
  /** A CA bundle for the npm registry, mounted at build time only. */
  caFile?: string;
  /** Copy the tools' output to stderr while they run. */
  echo: boolean;
  log: (line: string) => void;
}

/** The references of the images a build left. */
export interface BuiltImages {
  engine: string;
  operator: string;
  stores?: typeof STORE_IMAGES;
}

/**
 * Builds the bases, the product images (and optionally the store images),
 * exports the product images that changed and writes the manifest, timing each step.
 */
export async function buildImages(options: BuildOptions): Promise<BuiltImages> {
  const { root, cache, echo, log } = options;
  const step = async <T>(name: string, work: () => Promise<T>, say = (_: T) => ''): Promise<T> => {
    const started = performance.now();
    const result = await work();
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const detail = say(result);
    log(`${name}${detail ? `: ${detail}` : ''} (${seconds} s)`);
    return result;
  };
  const total = performance.now();

  await step(
    'containers.conf',
    async () => ensureContainersConf(),
    (result) => result,
  );
  const debian = await step(
    'debian base',
    () => ensureDebianBase(cache, options.mirrors, { echo }),
    (base) => `${base.outcome} ${base.id.slice(0, 12)}`,
  );
  await step(
    'node base',
    () => ensureNodeBase(root, cache, debian.id, { echo }),
    (base) => `${base.outcome} ${base.id.slice(0, 12)}`,
  );
  const archives: ImageArchive[] = [];
  for (const name of ['engine', 'operator'] as const satisfies readonly Product[]) {
    const image = await step(
      `${name} image`,
      () => buildProduct(root, name, { echo, caFile: options.caFile }),
      (built) => `${built.ref} ${built.id.slice(0, 12)}`,
    );
    const exported = await step(
      `${name} archive`,
      () => exportArchive(cache, { name, ...image }),
      (result) => `${result.exported ? 'exported' : 'unchanged'} ${result.archive.archive}`,
    );
    archives.push(exported.archive);
  }
  writeManifest(cache, archives);
  if (options.stores) {
    for (const store of ['postgres', 'redis'] as const) {
      await step(`${store} image`, () => buildStoreImage(root, store, debian.id, { echo }), String);
    }
  }
  log(`total (${((performance.now() - total) / 1000).toFixed(1)} s)`);
  const [engine, operator] = archives.map((archive) => archive.ref) as [string, string];
  return { engine, operator, ...(options.stores ? { stores: STORE_IMAGES } : {}) };
}
