import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  PolicyV1Api,
  type V1Deployment,
  type V1Pod,
  type V1PodDisruptionBudget,
  type V1Secret,
  type V1Service,
} from '@kubernetes/client-node';
import type { NetworkPolicy } from '../builders/network-policy.ts';
import type { ResourceSource } from './informer.ts';
import { PLAIN_JSON_KINDS } from './kube.ts';

const scoped = (namespace: string, cluster: string, namespaced: string) =>
  namespace ? namespaced.replace('{ns}', namespace) : cluster;

/** List-and-watch sources for the kinds the operator reads. */
export function sources(kc: KubeConfig) {
  const apps = kc.makeApiClient(AppsV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const customSource = (
    kind: string,
    group: string,
    version: string,
    plural: string,
  ): ResourceSource<KubernetesObject> => ({
    kind,
    path: (namespace) =>
      scoped(
        namespace,
        `/apis/${group}/${version}/${plural}`,
        `/apis/${group}/${version}/namespaces/{ns}/${plural}`,
      ),
    list: (namespace, labelSelector) =>
      (namespace
        ? custom.listNamespacedCustomObject({ group, version, namespace, plural, labelSelector })
        : custom.listClusterCustomObject({ group, version, plural, labelSelector })) as Promise<
        KubernetesListObject<KubernetesObject>
      >,
  });
  const deployments: ResourceSource<V1Deployment> = {
    kind: 'Deployment',
    path: (namespace) =>
      scoped(namespace, '/apis/apps/v1/deployments', '/apis/apps/v1/namespaces/{ns}/deployments'),
    list: (namespace, labelSelector) =>
      namespace
        ? apps.listNamespacedDeployment({ namespace, labelSelector })
        : apps.listDeploymentForAllNamespaces({ labelSelector }),
  };
  const services: ResourceSource<V1Service> = {
    kind: 'Service',
    path: (namespace) => scoped(namespace, '/api/v1/services', '/api/v1/namespaces/{ns}/services'),
    list: (namespace, labelSelector) =>
      namespace
        ? core.listNamespacedService({ namespace, labelSelector })
        : core.listServiceForAllNamespaces({ labelSelector }),
  };
  const secrets: ResourceSource<V1Secret> = {
    kind: 'Secret',
    path: (namespace) => scoped(namespace, '/api/v1/secrets', '/api/v1/namespaces/{ns}/secrets'),
    list: (namespace, labelSelector) =>
      namespace
        ? core.listNamespacedSecret({ namespace, labelSelector })
        : core.listSecretForAllNamespaces({ labelSelector }),
  };
  const pods: ResourceSource<V1Pod> = {
    kind: 'Pod',
    path: (namespace) => scoped(namespace, '/api/v1/pods', '/api/v1/namespaces/{ns}/pods'),
    list: (namespace, labelSelector) =>
      namespace
        ? core.listNamespacedPod({ namespace, labelSelector })
        : core.listPodForAllNamespaces({ labelSelector }),
  };
  const policy = kc.makeApiClient(PolicyV1Api);
  const podDisruptionBudgets: ResourceSource<V1PodDisruptionBudget> = {
    kind: 'PodDisruptionBudget',
    path: (namespace) =>
      scoped(
        namespace,
        '/apis/policy/v1/poddisruptionbudgets',
        '/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets',
      ),
    list: (namespace, labelSelector) =>
      namespace
        ? policy.listNamespacedPodDisruptionBudget({ namespace, labelSelector })
        : policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector }),
  };
  // Read as plain JSON, like the writer sends it: the typed model renames `from`.
  const { group, version, plural } = PLAIN_JSON_KINDS.NetworkPolicy as {
    group: string;
    version: string;
    plural: string;
  };
  const networkPolicies = customSource('NetworkPolicy', group, version, plural) as ResourceSource<
    KubernetesObject & NetworkPolicy
  >;
  return {
    customSource,
    deployments,
    services,
    secrets,
    pods,
    podDisruptionBudgets,
    networkPolicies,
  };
}
