import { stringify } from 'yaml';
import { buildCrd } from './crd.ts';

/** The CRD as the YAML file in crds/ holds it. */
export function crdYaml(): string {
  return `# Generated from operator/src/api/schema.ts by \`npm run generate\`; do not edit.\n${stringify(buildCrd(), { lineWidth: 0 })}`;
}
