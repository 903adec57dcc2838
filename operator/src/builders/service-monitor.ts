import type { KubernetesObject } from '@kubernetes/client-node';
import type { TradingEngineInstance } from '../api/schema.ts';
import { ownedMetadata, selectorLabels } from './metadata.ts';
import { SERVICE_KIND_LABEL } from './service.ts';

export const SERVICE_MONITOR = {
  group: 'monitoring.coreos.com',
  version: 'v1',
  plural: 'servicemonitors',
  kind: 'ServiceMonitor',
} as const;

/** A Prometheus Operator ServiceMonitor scraping every engine pod's /metrics (standbys too). */
export function buildServiceMonitor(
  instance: TradingEngineInstance,
): KubernetesObject & { spec: unknown } {
  const settings = instance.spec.monitoring.serviceMonitor;
  return {
    apiVersion: `${SERVICE_MONITOR.group}/${SERVICE_MONITOR.version}`,
    kind: SERVICE_MONITOR.kind,
    metadata: ownedMetadata(instance, instance.metadata.name, settings.labels),
    spec: {
      selector: { matchLabels: { ...selectorLabels(instance), [SERVICE_KIND_LABEL]: 'pods' } },
      namespaceSelector: { matchNames: [instance.metadata.namespace] },
      endpoints: [{ port: 'management', path: '/metrics', interval: settings.interval }],
    },
  };
}
