/**
 * True when `live` already has every value `desired` sets (Kubernetes'
 * `equality.Semantic.DeepDerivative`): fields the server adds or defaults are
 * ignored, fields we set must match. Arrays match element by element.
 */
export function isDerivative(desired: unknown, live: unknown): boolean {
  if (desired === undefined || desired === null) return true;
  if (Array.isArray(desired)) {
    return (
      Array.isArray(live) &&
      desired.length === live.length &&
      desired.every((item, i) => isDerivative(item, live[i]))
    );
  }
  if (typeof desired === 'object') {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return false;
    return Object.entries(desired).every(([key, value]) =>
      isDerivative(value, (live as Record<string, unknown>)[key]),
    );
  }
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

/**
 * The JSON patch that puts back what `desired` sets where `live` differs:
 * whole fields under spec/data, single keys of labels and annotations. Used
 * when server-side apply cannot remove what another field manager added
 * (a hand-edited list entry, a field that contradicts ours).
 */
export function driftPatch(
  desired: Record<string, unknown>,
  live: Record<string, unknown>,
): PatchOperation[] {
  const operations: PatchOperation[] = [];
  const section = (path: string[], want: unknown, have: unknown) => {
    if (typeof want !== 'object' || want === null) return;
    for (const [key, value] of Object.entries(want)) {
      const current = (have as Record<string, unknown> | undefined)?.[key];
      if (isDerivative(value, current)) continue;
      const pointer = `/${[...path, key].map(escapePointer).join('/')}`;
      operations.push({ op: current === undefined ? 'add' : 'replace', path: pointer, value });
    }
  };
  const desiredMeta = (desired.metadata ?? {}) as Record<string, unknown>;
  const liveMeta = (live.metadata ?? {}) as Record<string, unknown>;
  for (const map of ['labels', 'annotations']) {
    if (desiredMeta[map] && !liveMeta[map])
      operations.push({ op: 'add', path: `/metadata/${map}`, value: desiredMeta[map] });
    else section(['metadata', map], desiredMeta[map], liveMeta[map]);
  }
  if (!isDerivative(desiredMeta.ownerReferences, liveMeta.ownerReferences)) {
    operations.push({
      op: liveMeta.ownerReferences ? 'replace' : 'add',
      path: '/metadata/ownerReferences',
      value: desiredMeta.ownerReferences,
    });
  }
  for (const top of ['spec', 'data']) {
    if (desired[top] !== undefined && live[top] === undefined)
      operations.push({ op: 'add', path: `/${top}`, value: desired[top] });
    else section([top], desired[top], live[top]);
  }
  return operations;
}
