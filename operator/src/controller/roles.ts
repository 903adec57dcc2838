import type { V1Pod } from '@kubernetes/client-node';
import { describeCause, findActiveEngines, type Identity } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { type EngineRoleLabel, ROLE_LABEL } from '../builders/metadata.ts';
import type { AdminTarget } from './admin.ts';
import type { ConditionInput } from './conditions.ts';
import { type ReconcilerDependencies, target } from './context.ts';
import { keyOf } from './identity.ts';

/** Who trades for an instance, who stands by, and what the pods' role labels should become. */
export interface EngineRoles {
  /** The active engine's pod, when one of the instance's pods holds the lock. */
  active?: string;
  /** Ready engine pods standing by. */
  standbys: string[];
  /**
   * Role labels to write, in the order to write them (demotions first, so
   * that two pods are never both active), by pod name; `undefined` removes
   * the label from a pod that is not one of the instance's engines.
   */
  relabel: (readonly [pod: string, role: EngineRoleLabel | undefined])[];
  /** Available: True while the active engine's pod is Ready. */
  available: ConditionInput;
}

const isReady = (pod: V1Pod) =>
  pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * True when the Deployment's own controller made the pod: its controlling
 * owner is the Deployment's ReplicaSet for the pod's template. Labels alone
 * are not enough: anyone who can create pods in the namespace can copy them.
 */
export function isEnginePod(pod: V1Pod, deployment: string): boolean {
  const owner = pod.metadata?.ownerReferences?.find((reference) => reference.controller);
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  return (
    owner?.kind === 'ReplicaSet' && hash !== undefined && owner.name === `${deployment}-${hash}`
  );
}

/** The instance's engine pods that are not being deleted, and how many of them are ready. */
export interface PodCounts {
  live: number;
  ready: number;
}

/**
 * The pod counts status reports. Taken from the pods, as the Available
 * condition's message is, not from the Deployment's status, which catches up
 * a moment later: one source, so a pod becoming ready is one status write.
 */
export function podCounts(pods: V1Pod[], deployment: string): PodCounts {
  const live = pods.filter(
    (pod) => isEnginePod(pod, deployment) && !pod.metadata?.deletionTimestamp,
  );
  return { live: live.length, ready: live.filter(isReady).length };
}

/**
 * Decides the engines' roles from the pods labelled as the instance's and
 * the holder of its lock (the `application_name` of the session holding it:
 * an engine names it after its pod). Only the Deployment's own pods count; a
 * pod being deleted is never active: its engine is going.
 */
export function engineRoles(
  pods: V1Pod[],
  deployment: string,
  holder: string | undefined,
  replicas: number,
): EngineRoles {
  const name = (pod: V1Pod) => pod.metadata?.name ?? '';
  const engines = pods.filter((pod) => isEnginePod(pod, deployment));
  const live = engines.filter((pod) => !pod.metadata?.deletionTimestamp);
  const active = live.find((pod) => name(pod) === holder);
  const stopping = engines.find((pod) => pod.metadata?.deletionTimestamp && name(pod) === holder);
  const label = (pod: V1Pod) => pod.metadata?.labels?.[ROLE_LABEL];
  const relabel: EngineRoles['relabel'] = [
    ...pods
      .filter((pod) => !isEnginePod(pod, deployment) && label(pod) !== undefined)
      .map((pod) => [name(pod), undefined] as const),
    ...live
      .filter((pod) => pod !== active && label(pod) !== 'standby')
      .map((pod) => [name(pod), 'standby'] as const),
    ...(active && label(active) !== 'active' ? [[name(active), 'active'] as const] : []),
  ];
  const standbys = live.filter((pod) => pod !== active && isReady(pod)).map(name);
  const counts = `${podCounts(pods, deployment).ready}/${replicas} engine pods ready`;
  const condition = (
    status: 'True' | 'False',
    reason: string,
    message: string,
  ): ConditionInput => ({
    type: 'Available',
    status,
    reason,
    message,
  });
  const available = (() => {
    if (replicas === 0) return condition('True', 'ScaledToZero', 'spec.replicas is 0');
    if (active && isReady(active))
      return condition(
        'True',
        'ActiveEngineReady',
        `${name(active)} is active; ${counts}${standbys.length ? ` (${standbys.length} standing by)` : ''}`,
      );
    if (active)
      return condition(
        'False',
        'ActiveEngineNotReady',
        `${name(active)} holds the instance lock but is not ready; ${counts}`,
      );
    if (stopping)
      return condition(
        'False',
        'ActiveEngineStopping',
        `${name(stopping)} is stopping; a standby takes over when it lets go of the lock; ${counts}`,
      );
    if (holder)
      return condition(
        'False',
        'LockHeldElsewhere',
        `the instance lock is held by "${holder}", which is not a pod of this instance (an engine outside the cluster?); ${counts}`,
      );
    return condition('False', 'NoActiveEngine', `no engine holds the instance lock yet; ${counts}`);
  })();
  return { ...(active && { active: name(active) }), standbys, relabel, available };
}

/** Roles when the lock cannot be read: the pods keep their labels, availability is Unknown. */
export function rolesUnknown(why: string): EngineRoles {
  return {
    standbys: [],
    relabel: [],
    available: {
      type: 'Available',
      status: 'Unknown',
      reason: 'EngineRoleUnknown',
      message: `${why}: which engine trades cannot be told; the pods keep their roles`,
    },
  };
}

/** The pods labelled as the instance's, from the cache (the engines among them are told by their owner). */
export function instancePods(
  deps: ReconcilerDependencies,
  instance: TradingEngineInstance,
): V1Pod[] {
  return deps.caches.podsByInstance.get(keyOf(instance));
}

/**
 * Finds the engine that holds the instance's lock, labels the pods'
 * roles (the Service sends traffic to `active` only) and says whether the
 * active engine is available.
 */
export async function assignRoles(
  deps: ReconcilerDependencies,
  instance: TradingEngineInstance,
  identity: Identity,
  admin: AdminTarget,
  pods: V1Pod[],
): Promise<EngineRoles> {
  const { namespace, name } = instance.metadata;
  let holder: string | undefined;
  if (pods.length > 0) {
    const { pool } = deps.admin.postgres(admin);
    try {
      holder = (await findActiveEngines(pool, [identity.postgresSchema])).get(
        identity.postgresSchema,
      );
    } catch (error) {
      return rolesUnknown(`the instance lock could not be read: ${describeCause(error)}`);
    }
  }
  const roles = engineRoles(pods, name, holder, instance.spec.replicas);
  for (const [pod, role] of roles.relabel) {
    const labelled = await deps.writer.labelPod(namespace, pod, ROLE_LABEL, role);
    if (labelled && role === 'active')
      deps.events.record(
        target(instance),
        'Normal',
        'EngineActive',
        `${pod} holds the instance lock: it trades; traffic goes to it`,
      );
  }
  return roles;
}
