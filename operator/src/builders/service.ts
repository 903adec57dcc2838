import type { V1Service, V1ServicePort } from '@kubernetes/client-node';
import { ENGINE_PORTS } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { MANAGED_BY, ownedMetadata, ROLE_LABEL, selectorLabels } from './metadata.ts';

/**
 * The engine's Service: the trading API over HTTP and gRPC, to the active
 * engine only (standbys refuse writes until they take over).
 */
export function buildService(instance: TradingEngineInstance): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(instance, instance.metadata.name),
    spec: {
      type: 'ClusterIP',
      // managed-by too: a look-alike pod must carry the label the operator watches, so it is seen and stripped of the role.
      selector: { ...selectorLabels(instance), ...MANAGED_BY, [ROLE_LABEL]: 'active' },
      ports: tradingPorts(),
    },
  };
}

/** The label that tells the headless Service of all engine pods from the instance's Service. */
export const SERVICE_KIND_LABEL = 'trading.tse.io/service';

/** The name of the headless Service that reaches every engine pod, standbys included. */
export function podsServiceName(instance: TradingEngineInstance): string {
  return `${instance.metadata.name}-pods`;
}

/**
 * A headless Service of every engine pod, active and standby: what the
 * ServiceMonitor scrapes on the management port (a standby's health matters
 * too) and how a client finds a particular engine.
 */
export function buildPodsService(instance: TradingEngineInstance): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(instance, podsServiceName(instance), { [SERVICE_KIND_LABEL]: 'pods' }),
    spec: {
      type: 'ClusterIP',
      clusterIP: 'None',
      selector: selectorLabels(instance),
      ports: [
        ...tradingPorts(),
        {
          name: 'management',
          port: ENGINE_PORTS.management,
          targetPort: 'management',
          protocol: 'TCP',
        },
      ],
    },
  };
}

/** The trading API's ports, as both Services expose them. */
function tradingPorts(): V1ServicePort[] {
  return [
    { name: 'http', port: ENGINE_PORTS.http, targetPort: 'http', protocol: 'TCP' },
    {
      name: 'grpc',
      port: ENGINE_PORTS.grpc,
      targetPort: 'grpc',
      protocol: 'TCP',
      appProtocol: 'grpc',
    },
  ];
}
