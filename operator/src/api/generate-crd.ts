// Writes the CRD, the chart's copy of it and its reference page from the
// TypeScript source of truth, and the chart's copy of the example dashboard
// (helm cannot read files outside the chart): npm run generate
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { crdYaml } from './crd-yaml.ts';
import { crdReference } from './reference.ts';

export const CRD_FILE = fileURLToPath(
  new URL('../../../crds/tradingengineinstances.trading.tse.io.yaml', import.meta.url),
);
/** The chart's copy, which its crds template renders so that `helm upgrade` upgrades the CRD. */
export const CHART_CRD_FILE = fileURLToPath(
  new URL('../../../helm/trading-engine-operator/files/crd.yaml', import.meta.url),
);
export const REFERENCE_FILE = fileURLToPath(
  new URL('../../../docs/crd-reference.md', import.meta.url),
);

export const DASHBOARD_FILE = fileURLToPath(
  new URL('../../../examples/grafana-dashboard.json', import.meta.url),
);
/** The chart's copy of the dashboard, which it ships as a ConfigMap for Grafana's sidecar. */
export const CHART_DASHBOARD_FILE = fileURLToPath(
  new URL('../../../helm/trading-engine-operator/files/grafana-dashboard.json', import.meta.url),
);

/** Every generated file and what it should hold. */
export function generatedFiles(): [string, string][] {
  return [
    [CRD_FILE, crdYaml()],
    [CHART_CRD_FILE, crdYaml()],
    [REFERENCE_FILE, crdReference()],
    [CHART_DASHBOARD_FILE, readFileSync(DASHBOARD_FILE, 'utf8')],
  ];
}

if (import.meta.main) {
  for (const [file, content] of generatedFiles()) {
    writeFileSync(file, content);
    console.log(`wrote ${file}`);
  }
}
