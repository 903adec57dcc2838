import { deriveIdentity, type Identity, ValidationError } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';

const SPEC_FIELDS: Record<string, string> = {
  serviceName: 'spec.serviceName',
  instanceName: 'spec.instanceName',
  postgresSchema: 'spec.postgres.schema',
  redisNamespace: 'spec.redis.namespace',
};

/**
 * The identity an instance asks for: its instance name defaults to
 * metadata.name. A ValidationError names the spec field (`spec.postgres.schema`),
 * not the adapter's.
 */
export function resolveIdentity(instance: TradingEngineInstance): Identity {
  try {
    return deriveIdentity({
      serviceName: instance.spec.serviceName,
      instanceName: instance.spec.instanceName ?? instance.metadata.name,
      postgresSchema: instance.spec.postgres.schema,
      redisNamespace: instance.spec.redis.namespace,
    });
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    const field = error.field.split(' ')[0] ?? error.field;
    throw new ValidationError(
      error.field.replace(field, SPEC_FIELDS[field] ?? field),
      error.value,
      error.rule,
    );
  }
}

/** The `namespace/name` key of an object. */
export function keyOf(object: { metadata: { namespace: string; name: string } }): string {
  return `${object.metadata.namespace}/${object.metadata.name}`;
}
