import { CommandError, type RunResult, run } from './run.ts';

/** Runs podman with the given arguments. */
export function podman(args: string[], options: { echo?: boolean } = {}): Promise<RunResult> {
  return run('podman', args, options);
}

/** The full ID of a local image, or undefined when there is none by that name. */
export async function imageId(ref: string): Promise<string | undefined> {
  try {
    const { stdout } = await podman(['image', 'inspect', '--format', '{{.Id}}', ref]);
    return stdout.trim() || undefined;
  } catch (error) {
    if (error instanceof CommandError) return undefined;
    throw error;
  }
}

/** The image ID a podman command printed last (import, build --iidfile contents), without `sha256:`. */
export function imageIdFrom(output: string): string {
  const last =
    output
      .trim()
      .split('\n')
      .pop()
      ?.trim()
      .replace(/^sha256:/, '') ?? '';
  if (!/^[0-9a-f]{64}$/.test(last)) throw new Error(`expected an image ID, podman said: ${output}`);
  return last;
}
