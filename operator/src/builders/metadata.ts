import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { API_VERSION, KIND, type TradingEngineInstance } from '../api/schema.ts';

/** The field manager of every write the operator makes. */
export const FIELD_MANAGER = 'trading-engine-operator';

/** The label every owned object carries; informers watch only objects with it. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': FIELD_MANAGER } as const;
export const MANAGED_SELECTOR = 'app.kubernetes.io/managed-by=trading-engine-operator';

/** The label that ties an owned object (and the engine pods) to its instance. */
export const INSTANCE_LABEL = 'trading.tse.io/instance';

/**
 * The role label of each engine pod: `active` on the one that holds the
 * instance's lock, `standby` on the others. Pods are created `standby` (the
 * Deployment's template says so) and the operator relabels them as the lock
 * changes hands. The instance's Service selects `active`, so traffic reaches
 * only the engine that trades.
 */
export const ROLE_LABEL = 'trading.tse.io/role';
export type EngineRoleLabel = 'active' | 'standby';

/** Labels of everything that belongs to one instance. */
export function instanceLabels(instance: TradingEngineInstance): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'trading-engine',
    'app.kubernetes.io/instance': instance.metadata.name,
    'app.kubernetes.io/component': 'engine',
    ...MANAGED_BY,
    [INSTANCE_LABEL]: instance.metadata.name,
  };
}

/** The label selector of an instance's pods (a subset that never changes). */
export function selectorLabels(instance: TradingEngineInstance): Record<string, string> {
  return { [INSTANCE_LABEL]: instance.metadata.name };
}

/** Makes the instance the controlling owner, so that deleting it deletes the object. */
export function ownerReference(instance: TradingEngineInstance): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: instance.metadata.name,
    uid: instance.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** Metadata of an owned object named `name` in the instance's namespace. */
export function ownedMetadata(
  instance: TradingEngineInstance,
  name: string,
  labels: Record<string, string> = {},
): V1ObjectMeta {
  return {
    name,
    namespace: instance.metadata.namespace,
    labels: { ...labels, ...instanceLabels(instance) },
    ownerReferences: [ownerReference(instance)],
  };
}

/** The name of an instance's credentials Secret. */
export function credentialsSecretName(instance: TradingEngineInstance): string {
  return `${instance.metadata.name}-credentials`;
}
