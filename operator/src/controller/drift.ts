import { sameQuantity } from './quantity.ts';

/**
 * Whether the value at `path` is a resource quantity: the values of a
 * container's (or a pod's) `resources.limits`, `resources.requests` and
 * `overhead`, and an emptyDir's `sizeLimit`. Elsewhere (an env value, an
 * annotation) `0.5` and `500m` are different strings.
 */
function isQuantityPath(path: readonly string[]): boolean {
  const key = path.at(-1);
  const parent = path.at(-2);
  if (key === 'sizeLimit') return true;
  if (parent === 'overhead') return true;
  return (parent === 'limits' || parent === 'requests') && path.at(-3) === 'resources';
}

/**
 * True when `live` already has every value `desired` sets (Kubernetes'
 * `equality.Semantic.DeepDerivative`): fields the server adds or defaults,
 * and fields other managers add (an annotation of `kubectl rollout
 * restart`), are ignored; fields we set must match. Arrays match element by
 * element. Resource quantities are compared by value. An empty list or map
 * matches an absent one, as the API server drops empty fields it stores.
 */
export function isDerivative(
  desired: unknown,
  live: unknown,
  path: readonly string[] = [],
  /** Off to ask whether `live` adds nothing: there an empty selector is not an absent one. */
  emptyMatchesAbsent = true,
): boolean {
  if (desired === undefined || desired === null) return true;
  if (emptyMatchesAbsent && (live === undefined || live === null)) {
    if (Array.isArray(desired) && desired.length === 0) return true;
    if (typeof desired === 'object' && Object.keys(desired).length === 0) return true;
  }
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) &&
      desired.length === live.length &&
      desired.every((item, i) =>
        isDerivative(item, live[i], [...path, String(i)], emptyMatchesAbsent),
      )
    );
  }
  if (typeof desired === 'object') {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return Object.entries(desired).every(([key, value]) =>
      isDerivative(
        value,
        (live as Record<string, unknown>)[key],
        [...path, key],
        emptyMatchesAbsent,
      ),
    );
  }
  if (
    (typeof desired === 'string' || typeof desired === 'number') &&
    (typeof live === 'string' || typeof live === 'number') &&
    isQuantityPath(path)
  )
    return String(desired) === String(live) || sameQuantity(desired, live);
  if (typeof desired === 'number' && typeof live === 'string') return String(desired) === live;
  return desired === live;
}

/** One RFC 6902 operation. */
export interface PatchOperation {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

const isMap = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The JSON patch that puts back what `desired` sets where `live` differs,
 * field by field: it descends into objects and replaces only the values
 * (scalars, or whole arrays) that differ, so whatever else is there (an
 * annotation another manager added, a field the server defaulted) stays.
 * Used when server-side apply cannot remove what another field manager
 * added (a hand-edited list entry, a field that contradicts ours). Only
 * metadata's labels, annotations and ownerReferences, and spec and data, are
 * compared.
 *
 * `coarse`, for when the API server refuses the fine patch because a field
 * we do not set contradicts one we do (a Deployment's `rollingUpdate` beside
 * our `type: Recreate`): an object under spec whose own values differ is
 * replaced whole, which drops its other fields too.
 */
export function driftPatch(
  desired: Record<string, unknown>,
  live: Record<string, unknown>,
  { coarse = false } = {},
): PatchOperation[] {
  const operations: PatchOperation[] = [];
  const visit = (path: string[], want: unknown, have: unknown) => {
    if (isDerivative(want, have, path)) return;
    const pointer = `/${path.map(escapePointer).join('/')}`;
    if (isMap(want) && isMap(have)) {
      const drifted = Object.keys(want).filter(
        (key) => !isDerivative(want[key], have[key], [...path, key]),
      );
      const whole =
        coarse &&
        path[0] === 'spec' &&
        path.length >= 2 &&
        drifted.some((key) => !(isMap(want[key]) && isMap(have[key])));
      if (!whole) {
        for (const key of drifted) visit([...path, key], want[key], have[key]);
        return;
      }
    }
    operations.push({ op: have === undefined ? 'add' : 'replace', path: pointer, value: want });
  };
  const desiredMeta = (desired.metadata ?? {}) as Record<string, unknown>;
  const liveMeta = (live.metadata ?? {}) as Record<string, unknown>;
  for (const key of ['labels', 'annotations', 'ownerReferences'])
    visit(['metadata', key], desiredMeta[key], liveMeta[key]);
  for (const top of ['spec', 'data']) visit([top], desired[top], live[top]);
  return operations;
}
