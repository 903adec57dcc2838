import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { TradingEngineInstance } from '../api/schema.ts';
import { ownedMetadata, selectorLabels } from './metadata.ts';

/**
 * A PodDisruptionBudget for an instance with standbys: voluntary disruptions
 * (a node drain) evict one engine pod at a time, so the active engine and its
 * standbys never go together; evicting the active one hands over to a
 * standby. Standbys are Ready, so the budget never blocks a drain for good.
 */
export function buildPodDisruptionBudget(instance: TradingEngineInstance): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: ownedMetadata(instance, instance.metadata.name),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(instance) },
    },
  };
}

/** Only instances with standbys need a budget: a lone engine's eviction is not to be held up. */
export function wantsPodDisruptionBudget(instance: TradingEngineInstance): boolean {
  return instance.spec.replicas >= 2;
}
