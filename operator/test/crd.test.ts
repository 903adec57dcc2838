import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCrd } from '../src/api/crd.ts';
import { generatedFiles } from '../src/api/generate-crd.ts';

type Node = Record<string, unknown>;

/** Where a schema is not structural: a node without a type, or a union. */
function structuralProblems(node: Node, path: string): string[] {
  const problems: string[] = [];
  if (!('type' in node) && !node['x-kubernetes-preserve-unknown-fields'])
    problems.push(`${path} has no type`);
  for (const union of ['anyOf', 'oneOf', 'allOf', '$ref'])
    if (union in node) problems.push(`${path} uses ${union}`);
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, Node>))
    problems.push(...structuralProblems(child, `${path}.${name}`));
  if (node.items) problems.push(...structuralProblems(node.items as Node, `${path}[]`));
  if (typeof node.additionalProperties === 'object')
    problems.push(...structuralProblems(node.additionalProperties as Node, `${path}{}`));
  return problems;
}

describe('the CRD', () => {
  it.each(generatedFiles())(
    '%s is what the TypeScript schema generates (npm run generate after changing it)',
    (file, content) => {
      expect(readFileSync(file, 'utf8')).toBe(content);
    },
  );

  it('is structural', () => {
    const crd = buildCrd() as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
    const schema = crd.spec.versions[0]?.schema.openAPIV3Schema as Node;
    expect(structuralProblems(schema, 'openAPIV3Schema')).toEqual([]);
  });

  it('describes every spec field for kubectl explain', () => {
    const crd = buildCrd() as {
      spec: { versions: { schema: { openAPIV3Schema: { properties: { spec: Node } } } }[] };
    };
    const spec = crd.spec.versions[0]?.schema.openAPIV3Schema.properties.spec as {
      properties: Record<string, Node>;
    };
    const undescribed = Object.entries(spec.properties)
      .filter(([, field]) => !field.description)
      .map(([name]) => name);
    expect(undescribed).toEqual([]);
  });
});
