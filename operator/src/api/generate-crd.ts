// Writes crds/ from the TypeScript source of truth: npm run generate
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crdYaml } from './crd-yaml.ts';

export const CRD_FILE = fileURLToPath(
  new URL('../../../crds/tradingengineinstances.trading.tse.io.yaml', import.meta.url),
);

if (import.meta.main) {
  writeFileSync(CRD_FILE, crdYaml());
  console.log(`wrote ${CRD_FILE}`);
}
