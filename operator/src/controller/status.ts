import type { KubernetesObject } from '@kubernetes/client-node';
import type { Condition, InstanceStatus, TradingEngineInstance } from '../api/schema.ts';
import type { RecentWrites } from './apply.ts';
import {
  type ConditionInput,
  type ConditionType,
  findCondition,
  mergeConditions,
} from './conditions.ts';
import { now, type ReconcilerDependencies, target } from './context.ts';
import { isDerivative } from './drift.ts';
import { keyOf } from './identity.ts';

/** Not-ready reasons of a normal start or takeover: no Event for them, they pass on their own. */
const QUIET_READY_REASONS = new Set([
  'NoActiveEngine',
  'ActiveEngineNotReady',
  'ActiveEngineStopping',
]);

/** Paused False: the operator manages the instance. */
export const notPaused = (): ConditionInput => ({
  type: 'Paused',
  status: 'False',
  reason: 'Reconciling',
  message: 'the operator manages this instance',
});

/** Writes an instance's status, and tells of the changes of its Ready condition. */
export class StatusWriter {
  private readonly deps: ReconcilerDependencies;
  private readonly written: RecentWrites;

  constructor(deps: ReconcilerDependencies, written: RecentWrites) {
    this.deps = deps;
    this.written = written;
  }

  /**
   * Writes status through /status, only when something in it changed.
   * `stores` is merged over the stores last written, store by store.
   */
  async write(
    instance: TradingEngineInstance,
    fields: Partial<InstanceStatus>,
    conditions: ConditionInput[],
  ): Promise<void> {
    const generation = instance.metadata.generation;
    const previous = this.current(instance);
    const stores =
      fields.stores || previous?.stores ? { ...previous?.stores, ...fields.stores } : undefined;
    const status: InstanceStatus = {
      ...fields,
      // Which servers hold the names outlives a reconcile that did not reach them.
      ...(stores && { stores }),
      observedGeneration: generation,
      conditions: mergeConditions(previous?.conditions, conditions, generation, now(this.deps)),
    };
    if (previous && isDerivative(status, previous) && isDerivative(previous, status)) return;
    const written = await this.deps.writer.applyStatus(
      instance.metadata.namespace,
      instance.metadata.name,
      status,
    );
    this.written.remember(statusKey(instance), written);
  }

  /** A condition as last written (here a moment ago, or as the cache has it). */
  condition(instance: TradingEngineInstance, type: ConditionType): Condition | undefined {
    return findCondition(this.current(instance)?.conditions, type);
  }

  /** True until the instance's first status is written (by this operator or an earlier one). */
  isFirst(instance: TradingEngineInstance): boolean {
    return !this.current(instance)?.conditions?.length;
  }

  /** The status as last written: here a moment ago, or as the cache has it. */
  private current(instance: TradingEngineInstance): InstanceStatus | undefined {
    const object = this.written.fresher(
      statusKey(instance),
      instance as unknown as KubernetesObject,
    );
    return (object as { status?: InstanceStatus }).status;
  }

  /** An Event when Ready changes status or reason, but for the quiet reasons of a normal start. */
  announceReady(instance: TradingEngineInstance, ready: ConditionInput): void {
    const before = findCondition(instance.status?.conditions, 'Ready');
    if (before?.status === ready.status && before?.reason === ready.reason) return;
    const type = ready.status === 'True' ? 'Normal' : 'Warning';
    if (ready.status === 'True' || !QUIET_READY_REASONS.has(ready.reason))
      this.deps.events.record(target(instance), type, ready.reason, ready.message);
  }
}

/** The key under which the instance's status write is remembered. */
function statusKey(instance: TradingEngineInstance): string {
  return `status/${keyOf(instance)}`;
}
