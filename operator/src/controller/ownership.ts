import type { KubernetesObject } from '@kubernetes/client-node';
import { TseError } from '@tse/adapter';

/** An object exists under a name the instance needs, and the instance does not control it. */
export class ForeignObjectError extends TseError {
  readonly code = 'FOREIGN_OBJECT';
}

/** The uid of the object's controlling owner, if it has one. */
export function controllerUid(object: KubernetesObject): string | undefined {
  return object.metadata?.ownerReferences?.find((reference) => reference.controller === true)?.uid;
}

/**
 * Why the operator may not write `desired` over `live`, or undefined when it
 * may (nothing there yet, or controlled by the same instance `desired` names
 * as its controller). Labels prove nothing, as anyone can set them: only
 * the controller owner reference with the instance's uid does.
 */
export function foreignObjectRefusal(
  desired: KubernetesObject,
  live: KubernetesObject | undefined,
): ForeignObjectError | undefined {
  if (!live) return undefined;
  const owner = controllerUid(desired);
  if (owner !== undefined && controllerUid(live) === owner) return undefined;
  const { kind } = desired;
  return new ForeignObjectError(
    `${kind} "${desired.metadata?.name}" already exists in namespace "${desired.metadata?.namespace}" and is not controlled by this instance; nothing was changed: delete or rename that ${kind}, or give the instance another name`,
  );
}
