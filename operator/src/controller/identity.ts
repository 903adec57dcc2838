import { deriveIdentityAs, type Identity } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';

const SPEC_FIELDS = {
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
  return deriveIdentityAs(
    {
      serviceName: instance.spec.serviceName,
      instanceName: instance.spec.instanceName ?? instance.metadata.name,
      postgresSchema: instance.spec.postgres.schema,
      redisNamespace: instance.spec.redis.namespace,
    },
    SPEC_FIELDS,
  );
}

/** The `namespace/name` key of an object. */
export function keyOf(object: { metadata: { namespace: string; name: string } }): string {
  return `${object.metadata.namespace}/${object.metadata.name}`;
}
