import type { V1Pod } from '@kubernetes/client-node';
import { type EngineRoleLabel, ROLE_LABEL } from '../builders/metadata.ts';
import type { ConditionInput } from './conditions.ts';

/** Who trades for an instance, who stands by, and what the pods' role labels should become. */
export interface EngineRoles {
  /** The active engine's pod, when one of the instance's pods holds the lock. */
  active?: string;
  /** Ready pods standing by. */
  standbys: string[];
  /** Role labels that differ from what the pods carry, by pod name. */
  relabel: Map<string, EngineRoleLabel>;
  /** Available: True while the active engine's pod is Ready. */
  available: ConditionInput;
}

const isReady = (pod: V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Decides the engines' roles from the instance's pods and the holder of its
 * lock (the `application_name` of the session holding it: an engine names it
 * after its pod). A pod being deleted is never active: its engine is going.
 */
export function engineRoles(
  pods: V1Pod[],
  holder: string | undefined,
  replicas: number,
): EngineRoles {
  const live = pods.filter((pod) => !pod.metadata?.deletionTimestamp);
  const active = live.find((pod) => pod.metadata?.name === holder);
  const relabel = new Map<string, EngineRoleLabel>();
  for (const pod of live) {
    const role: EngineRoleLabel = pod === active ? 'active' : 'standby';
    if (pod.metadata?.labels?.[ROLE_LABEL] !== role) relabel.set(pod.metadata?.name ?? '', role);
  }
  const standbys = live
    .filter((pod) => pod !== active && isReady(pod))
    .map((pod) => pod.metadata?.name ?? '');
  const ready = live.filter(isReady).length;
  const counts = `${ready}/${replicas} engine pods ready`;
  const available = ((): ConditionInput => {
    if (replicas === 0)
      return {
        type: 'Available',
        status: 'True',
        reason: 'ScaledToZero',
        message: 'spec.replicas is 0',
      };
    if (active && isReady(active))
      return {
        type: 'Available',
        status: 'True',
        reason: 'ActiveEngineReady',
        message: `${active.metadata?.name} is active; ${counts}${standbys.length ? ` (${standbys.length} standing by)` : ''}`,
      };
    if (active)
      return {
        type: 'Available',
        status: 'False',
        reason: 'ActiveEngineNotReady',
        message: `${active.metadata?.name} holds the instance lock but is not ready; ${counts}`,
      };
    if (holder)
      return {
        type: 'Available',
        status: 'False',
        reason: 'LockHeldElsewhere',
        message: `the instance lock is held by "${holder}", which is not a pod of this instance (an engine outside the cluster?); ${counts}`,
      };
    return {
      type: 'Available',
      status: 'False',
      reason: 'NoActiveEngine',
      message: `no engine holds the instance lock yet; ${counts}`,
    };
  })();
  return {
    ...(active?.metadata?.name && { active: active.metadata.name }),
    standbys,
    relabel,
    available,
  };
}

/** Roles when the lock cannot be read: the pods keep their labels, availability is Unknown. */
export function rolesUnknown(why: string): EngineRoles {
  return {
    standbys: [],
    relabel: new Map(),
    available: {
      type: 'Available',
      status: 'Unknown',
      reason: 'EngineRoleUnknown',
      message: `${why}: which engine trades cannot be told; the pods keep their roles`,
    },
  };
}
