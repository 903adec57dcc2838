import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cachedBinary } from '../cluster/binaries.ts';
import { freePort, type Guarded, spawnGuarded, waitFor } from './processes.ts';

/** An OCI registry (CNCF distribution) of the test's own, on plain HTTP. */
export interface Registry {
  /** host:port, as image references and `oci://` URLs name it. */
  address: string;
  process: Guarded;
  /** The tags a repository holds (none when it does not exist). */
  tags(repository: string): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Starts the registry binary from the binary cache on a free loopback port,
 * storing in a temporary directory that goes with it.
 */
export async function startRegistry(): Promise<Registry> {
  const dir = mkdtempSync(join(tmpdir(), 'tse-registry-'));
  const address = `127.0.0.1:${await freePort()}`;
  const config = join(dir, 'registry.yml');
  writeFileSync(
    config,
    stringify({
      version: 0.1,
      log: { level: 'warn' },
      storage: { filesystem: { rootdirectory: join(dir, 'storage') } },
      http: { addr: address },
    }),
  );
  const registry = spawnGuarded('registry', cachedBinary('registry'), ['serve', config], {
    cleanup: [dir],
  });
  await waitFor(
    'the registry to answer /v2/',
    async () => ((await fetch(`http://${address}/v2/`)).ok ? true : undefined),
    { process: registry },
  );
  return {
    address,
    process: registry,
    tags: async (repository) => {
      const response = await fetch(`http://${address}/v2/${repository}/tags/list`);
      if (response.status === 404) return [];
      return ((await response.json()) as { tags: string[] | null }).tags ?? [];
    },
    stop: () => registry.stop(),
  };
}
