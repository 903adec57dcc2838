import type { Condition } from '../api/schema.ts';

export const CONDITION_TYPES = [
  'Ready',
  'DatabaseReady',
  'CacheReady',
  'Available',
  'Paused',
] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** A condition as a decision states it; time and generation are added by `mergeConditions`. */
export interface ConditionInput {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

/**
 * The new condition list: each given condition replaces the one of its type,
 * keeping the old lastTransitionTime when the status did not change (so an
 * unchanged cluster writes nothing), in a stable order.
 */
export function mergeConditions(
  previous: Condition[] | undefined,
  next: ConditionInput[],
  generation: number,
  now: Date,
): Condition[] {
  const byType = new Map((previous ?? []).map((condition) => [condition.type, condition]));
  for (const input of next) {
    const old = byType.get(input.type);
    const lastTransitionTime =
      old && old.status === input.status ? old.lastTransitionTime : now.toISOString();
    byType.set(input.type, { ...input, observedGeneration: generation, lastTransitionTime });
  }
  const order = (type: string) => {
    const index = (CONDITION_TYPES as readonly string[]).indexOf(type);
    return index === -1 ? CONDITION_TYPES.length : index;
  };
  return [...byType.values()].sort(
    (a, b) => order(a.type) - order(b.type) || a.type.localeCompare(b.type),
  );
}

/** The condition of a type, if present. */
export function findCondition(
  conditions: Condition[] | undefined,
  type: ConditionType,
): Condition | undefined {
  return conditions?.find((condition) => condition.type === type);
}
