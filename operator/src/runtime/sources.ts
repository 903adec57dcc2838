import type {
  KubernetesObject,
  V1Deployment,
  V1Pod,
  V1PodDisruptionBudget,
  V1Secret,
  V1Service,
} from '@kubernetes/client-node';
import { API_VERSION, KIND } from '../api/schema.ts';
import type { NetworkPolicy } from '../builders/network-policy.ts';
import type { ResourceSource } from './informer.ts';
import { withoutManagedFields } from './kube.ts';

/** A source keeping what `project` returns: by default whole objects but for their managed fields. */
export const source = <T extends KubernetesObject>(
  apiVersion: string,
  kind: string,
  project: (object: T) => T = withoutManagedFields,
): ResourceSource<T> => ({ apiVersion, kind, project });

/**
 * What the operator reads of an engine pod: who made it, its labels, whether
 * it is going and whether it is Ready, and since when. A pod's spec and most
 * of its status (a few KiB each) are never kept. The time Ready became True
 * tells a restarted engine (its lock maybe lost) from one that stayed up even
 * when both its steps fall in one relist. Not ready is one state whatever
 * the condition says (absent, False, Unknown, since when): a starting pod's
 * steps before readiness wake nobody.
 */
export function podProjection(pod: V1Pod): V1Pod {
  const { name, namespace, uid, resourceVersion, labels, ownerReferences, deletionTimestamp } =
    pod.metadata ?? {};
  const ready = pod.status?.conditions?.find((condition) => condition.type === 'Ready');
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      ownerReferences: ownerReferences?.map(({ apiVersion, kind, name, uid, controller }) => ({
        apiVersion,
        kind,
        name,
        uid,
        controller,
      })),
      ...(deletionTimestamp ? { deletionTimestamp } : {}),
    },
    status:
      ready?.status === 'True'
        ? {
            conditions: [
              {
                type: ready.type,
                status: ready.status,
                ...(ready.lastTransitionTime && { lastTransitionTime: ready.lastTransitionTime }),
              },
            ],
          }
        : {},
  };
}

/** The Deployment controller's count of its rollouts. */
const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/**
 * A Deployment without its status, nor the revision annotation the
 * controller manager adds: the operator counts engine pods itself and reads
 * neither, and each of the controller manager's writes of them would
 * otherwise wake the instance.
 */
export function deploymentProjection(deployment: V1Deployment): V1Deployment {
  const { status: _, ...rest } = withoutManagedFields(deployment);
  const annotations = rest.metadata?.annotations;
  if (!annotations || !(REVISION_ANNOTATION in annotations)) return rest;
  const { [REVISION_ANNOTATION]: __, ...others } = annotations;
  const { annotations: ___, ...metadata } = rest.metadata ?? {};
  return {
    ...rest,
    metadata: Object.keys(others).length ? { ...metadata, annotations: others } : metadata,
  };
}

/**
 * A PodDisruptionBudget without its status, which the controller manager
 * rewrites as pods come and go (the operator never reads it).
 */
export function podDisruptionBudgetProjection(
  budget: V1PodDisruptionBudget,
): V1PodDisruptionBudget {
  const { status: _, ...rest } = withoutManagedFields(budget);
  return rest;
}

/**
 * A Secret's data is kept only when an instance controls the Secret (its
 * credentials): anyone may put the operator's label on a Secret of their
 * own, and its data must cost the operator nothing.
 */
export function secretProjection(secret: V1Secret): V1Secret {
  const trimmed = withoutManagedFields(secret);
  const owned = secret.metadata?.ownerReferences?.some(
    (reference) =>
      reference.controller && reference.kind === KIND && reference.apiVersion === API_VERSION,
  );
  if (owned) return trimmed;
  const { data: _, stringData: __, ...rest } = trimmed;
  return rest;
}

/** The kinds the operator lists and watches, and what it keeps of each. */
export const SOURCES = {
  deployments: source('apps/v1', 'Deployment', deploymentProjection),
  services: source<V1Service>('v1', 'Service'),
  secrets: source('v1', 'Secret', secretProjection),
  pods: source('v1', 'Pod', podProjection),
  podDisruptionBudgets: source('policy/v1', 'PodDisruptionBudget', podDisruptionBudgetProjection),
  networkPolicies: source<KubernetesObject & NetworkPolicy>(
    'networking.k8s.io/v1',
    'NetworkPolicy',
  ),
};
