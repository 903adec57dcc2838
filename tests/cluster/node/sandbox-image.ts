import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { run, tryRun } from './shell.ts';

/** The pods' sandbox ("pause") image: Debian's static catatonit, nothing else. */
export const SANDBOX_IMAGE = 'localhost/tse/pause:catatonit';

/**
 * Builds the sandbox image with buildah (no registry can serve one here) and
 * saves it as an archive in `cacheDir`, once; returns the archive's path.
 */
export function sandboxImageArchive(cacheDir: string): string {
  const archive = join(cacheDir, 'pause-catatonit.tar');
  if (existsSync(archive)) return archive;
  mkdirSync(cacheDir, { recursive: true });
  const container = run('buildah', ['from', 'scratch']).trim();
  try {
    run('buildah', ['copy', container, '/usr/bin/catatonit', '/pause']);
    run('buildah', [
      'config',
      '--entrypoint',
      '["/pause", "-P"]',
      '--user',
      '65535:65535',
      '--label',
      'org.opencontainers.image.title=pod sandbox (catatonit -P)',
      container,
    ]);
    run('buildah', ['commit', '--quiet', '--format', 'docker', container, SANDBOX_IMAGE]);
  } finally {
    tryRun('buildah', ['rm', container]);
  }
  run('podman', [
    'save',
    '--quiet',
    '--format',
    'docker-archive',
    '-o',
    `${archive}.tmp`,
    SANDBOX_IMAGE,
  ]);
  renameSync(`${archive}.tmp`, archive);
  return archive;
}
