import { createHash } from 'node:crypto';

/** A short, stable hash of everything that decides what an image contains. */
export function recipeHash(parts: readonly string[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${part.length}:${part}`);
  return hash.digest('hex').slice(0, 16);
}
