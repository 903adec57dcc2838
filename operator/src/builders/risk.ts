import type { V1EnvVar } from '@kubernetes/client-node';
import { ENGINE_ENV } from '@tse/adapter';
import type { InstanceSpec } from '../api/schema.ts';

/**
 * The engine variables for `spec.risk`: one per limit that is set, so an
 * instance without limits gets no variable (the engine then enforces none).
 */
export function riskEnvironment(risk: InstanceSpec['risk']): V1EnvVar[] {
  const env: V1EnvVar[] = [];
  if (risk?.maxPositionSize !== undefined)
    env.push({ name: ENGINE_ENV.maxPositionSize, value: risk.maxPositionSize });
  if (risk?.maxDailyLoss !== undefined)
    env.push({ name: ENGINE_ENV.maxDailyLoss, value: risk.maxDailyLoss });
  return env;
}
