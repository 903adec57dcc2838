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
