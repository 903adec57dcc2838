import { imageId, podman } from './podman.ts';

/** What ensuring a base did (nothing, re-pointed its tag, or built it) and the image's ID. */
export interface BaseOutcome {
  outcome: 'kept' | 'retagged' | 'built';
  id: string;
}

/**
 * The local name that keeps the build of one recipe: the base's name under
 * localhost/tse/ with the recipe's hash appended to its tag, e.g.
 * localhost/tse/node:24-slim-<hash> for docker.io/library/node:24-slim.
 */
export function recipeTag(ref: string, recipe: string): string {
  const colon = ref.lastIndexOf(':');
  const name = ref.slice(0, colon).split('/').pop();
  return `localhost/tse/${name}:${ref.slice(colon + 1)}-${recipe}`;
}

/**
 * Makes `ref` the image built from `recipe`. The recipe's own tag is the truth:
 * when it exists, `ref` is pointed at it (checkouts of different versions share
 * podman's storage and would otherwise rebuild the base in turn); else `build`
 * makes the image and returns its ID, and both tags are set to that ID only
 * then, so no half-made or foreign image ever carries them.
 */
export async function ensureBaseImage(
  ref: string,
  recipe: string,
  build: () => Promise<string>,
): Promise<BaseOutcome> {
  const kept = recipeTag(ref, recipe);
  const keptId = await imageId(kept);
  if (keptId) {
    if ((await imageId(ref)) === keptId) return { outcome: 'kept', id: keptId };
    await podman(['tag', keptId, ref]);
    return { outcome: 'retagged', id: keptId };
  }
  const id = await build();
  await podman(['tag', id, kept, ref]);
  return { outcome: 'built', id };
}
