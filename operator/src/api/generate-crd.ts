// Writes the CRD from the TypeScript source of truth: npm run generate
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crdYaml } from './crd-yaml.ts';

export const CRD_FILE = fileURLToPath(
  new URL('../../../crds/tradingengineinstances.trading.tse.io.yaml', import.meta.url),
);
/** The chart's copy, which its crds template renders so that `helm upgrade` upgrades the CRD. */
export const CHART_CRD_FILE = fileURLToPath(
  new URL('../../../helm/trading-engine-operator/files/crd.yaml', import.meta.url),
);

if (import.meta.main) {
  for (const file of [CRD_FILE, CHART_CRD_FILE]) {
    writeFileSync(file, crdYaml());
    console.log(`wrote ${file}`);
  }
}
