// npm run images              builds the Debian and Node bases, the engine and the
//                             operator images, exports those two as OCI archives
//                             and prints {"engine": <ref>, "operator": <ref>} as
//                             its last line
// npm run images -- --stores  also builds the PostgreSQL and Redis images the
//                             integration tests start through testcontainers
// npm run images -- --verbose shows the tools' output while they run
//
// Environment: DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR (the mirrors the base is
// bootstrapped from), NODE_EXTRA_CA_CERTS (a CA bundle npm needs at build time,
// e.g. for a TLS-intercepting proxy; never copied into an image), XDG_CACHE_HOME.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BuildOptions, buildImages } from './build.ts';
import { DEFAULT_MIRRORS } from './debian-base.ts';
import { withBuildLock } from './lock.ts';
import { cacheDir } from './names.ts';
import { CommandError, MissingToolError } from './run.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

const { values } = parseArgs({
  options: {
    stores: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const caFile = process.env.NODE_EXTRA_CA_CERTS;
try {
  const cache = cacheDir();
  const options: BuildOptions = {
    root,
    cache,
    mirrors: {
      main: process.env.DEBIAN_MIRROR || DEFAULT_MIRRORS.main,
      security: process.env.DEBIAN_SECURITY_MIRROR || DEFAULT_MIRRORS.security,
    },
    stores: values.stores,
    caFile: caFile && existsSync(caFile) ? caFile : undefined,
    echo: values.verbose,
    log: (line) => console.log(`images: ${line}`),
  };
  const built = await withBuildLock(cache, () => buildImages(options), {
    onWait: (pid) => console.log(`images: waiting for the build of process ${pid}`),
  });
  console.log(JSON.stringify({ engine: built.engine, operator: built.operator }));
} catch (error) {
  // Expected failures say what went wrong in their message; anything else keeps its stack.
  const expected = error instanceof CommandError || error instanceof MissingToolError;
  console.error(expected ? error.message : error);
  process.exit(1);
}
