import { z } from 'zod';
import { GROUP, instanceSpec, instanceStatus, KIND, PLURAL, VERSION } from './schema.ts';

type JsonSchema = { [key: string]: unknown };

/**
 * Turns zod's JSON Schema into a structural OpenAPI v3 schema as Kubernetes
 * wants it: no $schema or propertyNames, open objects marked
 * x-kubernetes-preserve-unknown-fields, no synthetic integer bounds.
 */
export function toStructural(schema: JsonSchema): JsonSchema {
  // The one union a structural schema allows, in the exact shape Kubernetes
  // requires (the pattern applies to the string form only).
  if (schema['x-kubernetes-int-or-string']) {
    const { description, pattern } = schema;
    return {
      ...(description !== undefined && { description }),
      anyOf: [{ type: 'integer' }, { type: 'string' }],
      ...(pattern !== undefined && { pattern }),
      'x-kubernetes-int-or-string': true,
    };
  }
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$schema' || key === 'propertyNames') continue;
    if (
      (key === 'maximum' || key === 'minimum') &&
      Math.abs(value as number) === Number.MAX_SAFE_INTEGER
    )
      continue;
    if (key === 'properties') {
      const properties = Object.entries(value as Record<string, JsonSchema>);
      if (properties.length > 0)
        out.properties = Object.fromEntries(
          properties.map(([name, child]) => [name, toStructural(child)]),
        );
      continue;
    }
    if (key === 'additionalProperties') {
      const open = typeof value === 'object' && value !== null && Object.keys(value).length === 0;
      if (open || schema['x-kubernetes-preserve-unknown-fields'])
        out['x-kubernetes-preserve-unknown-fields'] = true;
      else if (value !== false) out.additionalProperties = toStructural(value as JsonSchema);
      continue;
    }
    if (key === 'items') {
      out.items = toStructural(value as JsonSchema);
      continue;
    }
    out[key] = value;
  }
  return out;
}

const openApi = (schema: z.ZodType) =>
  toStructural(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema);

/** The TradingEngineInstance CustomResourceDefinition, built from the zod schemas. */
export function buildCrd(): JsonSchema {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${GROUP}`,
      labels: {
        'app.kubernetes.io/name': 'trading-engine-operator',
        'app.kubernetes.io/part-of': 'trading-engine-operator',
      },
    },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        plural: PLURAL,
        singular: 'tradingengineinstance',
        kind: KIND,
        listKind: `${KIND}List`,
        shortNames: ['tei'],
        categories: ['trading'],
      },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: {
            status: {},
            // `kubectl scale tei NAME --replicas=N`; standbys are the extra replicas.
            scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' },
          },
          additionalPrinterColumns: [
            { name: 'Instance', type: 'string', jsonPath: '.status.identity.instanceName' },
            { name: 'Schema', type: 'string', jsonPath: '.status.identity.postgresSchema' },
            // Not "Namespace": `kubectl get -A` already prints the Kubernetes namespace.
            { name: 'Redis-NS', type: 'string', jsonPath: '.status.identity.redisNamespace' },
            {
              name: 'Ready',
              type: 'string',
              jsonPath: '.status.conditions[?(@.type=="Ready")].status',
            },
            {
              name: 'Reason',
              type: 'string',
              jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
              priority: 1,
            },
            { name: 'Active', type: 'string', jsonPath: '.status.activeEngine', priority: 1 },
            { name: 'Standbys', type: 'integer', jsonPath: '.status.standbyReplicas', priority: 1 },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'A trading-engine instance with its own PostgreSQL schema and Redis namespace, derived from its name.',
              properties: {
                apiVersion: {
                  type: 'string',
                  description: 'The versioned schema of this representation of an object.',
                },
                kind: { type: 'string', description: 'The REST resource this object represents.' },
                metadata: { type: 'object' },
                spec: openApi(instanceSpec),
                status: openApi(instanceStatus),
              },
            },
          },
        },
      ],
    },
  };
}
