import { deriveIdentity } from '@tse/adapter';
import {
  API_VERSION,
  type InstanceSpec,
  KIND,
  type TradingEngineInstance,
  tradingEngineInstance,
} from '../src/api/schema.ts';

type Modifier = (object: {
  metadata: Record<string, unknown>;
  spec: Record<string, unknown>;
}) => void;

/** A TradingEngineInstance as read from the API server, changed by modifiers. */
export function instance(name: string, ...modifiers: Modifier[]): TradingEngineInstance {
  const object = {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name,
      namespace: 'trading',
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: '2026-01-01T00:00:00Z',
    } as Record<string, unknown>,
    spec: {} as Record<string, unknown>,
  };
  for (const modify of modifiers) modify(object);
  return tradingEngineInstance.parse(object);
}

export const withSpec =
  (spec: Partial<Record<keyof InstanceSpec, unknown>>): Modifier =>
  (object) => {
    Object.assign(object.spec, spec);
  };
export const withInstanceName = (instanceName: string) => withSpec({ instanceName });
export const createdAt =
  (creationTimestamp: string): Modifier =>
  (object) => {
    object.metadata.creationTimestamp = creationTimestamp;
  };
export const inNamespace =
  (namespace: string): Modifier =>
  (object) => {
    object.metadata.namespace = namespace;
  };

export const identityOf = (object: TradingEngineInstance) =>
  deriveIdentity({
    serviceName: object.spec.serviceName,
    instanceName: object.spec.instanceName ?? object.metadata.name,
  });
