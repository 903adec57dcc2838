import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './shell.ts';

/** The pods' sandbox ("pause") image: Debian's static catatonit, nothing else. */
export const SANDBOX_IMAGE = 'localhost/tse/pause:catatonit';

/**
 * Builds the sandbox image with podman (no registry can serve one here) and
 * saves it as an archive in `cacheDir`, once; returns the archive's path.
 */
export function sandboxImageArchive(cacheDir: string): string {
  const archive = join(cacheDir, 'pause-catatonit.tar');
  if (existsSync(archive)) return archive;
  mkdirSync(cacheDir, { recursive: true });
  const context = mkdtempSync(join(tmpdir(), 'tse-pause-'));
  try {
    copyFileSync('/usr/bin/catatonit', join(context, 'catatonit'));
    writeFileSync(
      join(context, 'Containerfile'),
      'FROM scratch\nCOPY catatonit /pause\nUSER 65535:65535\nENTRYPOINT ["/pause", "-P"]\n',
    );
    run('podman', [
      'build',
      '--quiet',
      '--format',
      'docker',
      '--pull=never',
      '-t',
      SANDBOX_IMAGE,
      context,
    ]);
  } finally {
    rmSync(context, { recursive: true, force: true });
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
