import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildCrd } from '../src/api/crd.ts';
import { generatedFiles } from '../src/api/generate-crd.ts';

type Node = Record<string, unknown>;

/** Where a schema is not structural: a node without a type, or a union. */
function structuralProblems(node: Node, path: string): string[] {
  const problems: string[] = [];
  if (node['x-kubernetes-int-or-string']) {
    // The one union Kubernetes allows, in exactly this shape.
    if (JSON.stringify(node.anyOf) !== '[{"type":"integer"},{"type":"string"}]' || 'type' in node)
      problems.push(`${path} is int-or-string in a shape Kubernetes refuses`);
    return problems;
  }
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

type Version = {
  schema: { openAPIV3Schema: Node };
  additionalPrinterColumns: { name: string }[];
  subresources: Node;
};
const version = () => (buildCrd() as { spec: { versions: Version[] } }).spec.versions[0] as Version;

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

  it('describes every field, spec and status, at every depth, for kubectl explain', () => {
    const undescribed = (node: Node, path: string): string[] => [
      ...(node.description ? [] : [path]),
      ...Object.entries((node.properties ?? {}) as Record<string, Node>).flatMap(([name, child]) =>
        undescribed(child, `${path}.${name}`),
      ),
      ...(node.items ? undescribed(node.items as Node, `${path}[]`) : []),
    ];
    const root = version().schema.openAPIV3Schema as Node & { properties: Record<string, Node> };
    const { spec, status } = root.properties as Record<string, Node>;
    expect([
      ...undescribed(spec as Node, 'spec'),
      ...undescribed(status as Node, 'status'),
    ]).toEqual([]);
  });

  it('prints distinct column names, so `kubectl get tei -A` has one NAMESPACE column', () => {
    const names = version().additionalPrinterColumns.map((column) => column.name.toUpperCase());
    expect(names).not.toContain('NAMESPACE');
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain('REDIS-NS');
  });

  it('scales through the scale subresource on spec.replicas', () => {
    expect(version().subresources).toEqual({
      status: {},
      scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
    });
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
