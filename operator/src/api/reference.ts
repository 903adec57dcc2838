import { buildCrd } from './crd.ts';

type Schema = {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Schema>;
  items?: Schema;
  required?: string[];
  additionalProperties?: Schema;
  'x-kubernetes-validations'?: { rule: string; message: string }[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
};

/** The CRD reference page (docs/crd-reference.md), generated from the CRD itself. */
export function crdReference(): string {
  const crd = buildCrd() as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
  const root = crd.spec.versions[0]?.schema.openAPIV3Schema as Schema;
  const rows: string[] = [];
  const walk = (schema: Schema, path: string, required: boolean) => {
    const type =
      schema.type === 'array'
        ? `array of ${schema.items?.type ?? 'object'}`
        : (schema.type ?? 'object');
    const rules: string[] = [];
    if (required) rules.push('required');
    if (schema.default !== undefined) rules.push(`default \`${JSON.stringify(schema.default)}\``);
    if (schema.enum) rules.push(`one of ${schema.enum.map((value) => `\`${value}\``).join(', ')}`);
    if (schema.pattern) rules.push(`pattern \`${schema.pattern}\``);
    if (schema.minimum !== undefined || schema.maximum !== undefined)
      rules.push(`${schema.minimum ?? ''}..${schema.maximum ?? ''}`);
    for (const validation of schema['x-kubernetes-validations'] ?? [])
      rules.push(validation.message);
    if (schema['x-kubernetes-preserve-unknown-fields']) rules.push('free-form');
    rows.push(
      `| \`${path}\` | ${type} | ${(schema.description ?? '').replaceAll('|', '\\|')} | ${rules.join('; ').replaceAll('|', '\\|')} |`,
    );
    for (const [name, child] of Object.entries(schema.properties ?? {}))
      walk(child, `${path}.${name}`, schema.required?.includes(name) ?? false);
    if (schema.items?.properties)
      for (const [name, child] of Object.entries(schema.items.properties))
        walk(child, `${path}[].${name}`, schema.items.required?.includes(name) ?? false);
  };
  for (const top of ['spec', 'status'] as const) {
    const schema = root.properties?.[top];
    if (schema) walk(schema, top, false);
  }
  return [
    '# TradingEngineInstance reference',
    '',
    'Generated from `operator/src/api/schema.ts` by `npm run generate`; do not edit.',
    '',
    '`apiVersion: trading.tse.io/v1alpha1`, `kind: TradingEngineInstance`, namespaced, short name `tei`.',
    '`kubectl explain tei.spec` shows the same descriptions.',
    '',
    '| field | type | description | rules |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}
