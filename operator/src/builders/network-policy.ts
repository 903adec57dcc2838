import type { KubernetesObject, V1LabelSelector } from '@kubernetes/client-node';
import { ENGINE_PORTS } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { ownedMetadata, selectorLabels } from './metadata.ts';

type Peer = { podSelector?: V1LabelSelector; namespaceSelector?: V1LabelSelector };

/**
 * A NetworkPolicy as the API server speaks it. The client library's model
 * names the rule's peers `_from`: objects of this kind are sent and read as
 * plain JSON (see the writer) so that `from` is never dropped.
 */
export interface NetworkPolicy extends KubernetesObject {
  spec: {
    podSelector: V1LabelSelector;
    policyTypes: string[];
    ingress: { from: Peer[]; ports: { protocol: string; port: number }[] }[];
  };
}

/**
 * The engines' NetworkPolicy: the trading ports (HTTP and gRPC) admit only
 * the clients the spec names, the management port (health, metrics) only
 * the monitoring peers. Nothing else reaches an engine pod; traffic from its
 * node (kubelet's probes) is always allowed by NetworkPolicy. Egress is left
 * alone: the engines must reach their stores wherever they are.
 */
export function buildNetworkPolicy(instance: TradingEngineInstance): NetworkPolicy {
  const clients = instance.spec.networkPolicy.clients.map(compact) as Peer[];
  const monitoring = instance.spec.networkPolicy.monitoring.map(compact) as Peer[];
  const port = (number: number) => ({ protocol: 'TCP', port: number });
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: ownedMetadata(instance, instance.metadata.name),
    spec: {
      podSelector: { matchLabels: selectorLabels(instance) },
      policyTypes: ['Ingress'],
      ingress: [
        ...(clients.length > 0
          ? [
              {
                from: clients,
                ports: [port(ENGINE_PORTS.http), port(ENGINE_PORTS.grpc)],
              },
            ]
          : []),
        ...(monitoring.length > 0
          ? [{ from: monitoring, ports: [port(ENGINE_PORTS.management)] }]
          : []),
      ],
    },
  };
}

/**
 * A peer as the API server stores it: empty lists and maps dropped (it does
 * not keep them), so that what is written compares equal to what is read.
 */
function compact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(compact);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .map(([key, item]) => [key, compact(item)] as const)
      .filter(
        ([, item]) =>
          !(Array.isArray(item) && item.length === 0) &&
          !(typeof item === 'object' && item !== null && Object.keys(item).length === 0),
      ),
  );
}
