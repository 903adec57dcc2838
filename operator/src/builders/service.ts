import type { V1Service } from '@kubernetes/client-node';
import { ENGINE_PORTS } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { ownedMetadata, selectorLabels } from './metadata.ts';

/** The engine's Service: HTTP (health, API, metrics) and gRPC. */
export function buildService(instance: TradingEngineInstance): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(instance, instance.metadata.name),
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(instance),
      ports: [
        { name: 'http', port: ENGINE_PORTS.http, targetPort: 'http', protocol: 'TCP' },
        {
          name: 'grpc',
          port: ENGINE_PORTS.grpc,
          targetPort: 'grpc',
          protocol: 'TCP',
          appProtocol: 'grpc',
        },
      ],
    },
  };
}
