import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { recipeTag } from '../images/base-image.ts';
import { withOurSettings } from '../images/containers-conf.ts';
import { DEFAULT_MIRRORS, debianBootstrapArgs } from '../images/debian-base.ts';
import { withBuildLock } from '../images/lock.ts';
import { productBuildArgs } from '../images/products.ts';
import { recipeHash } from '../images/recipe.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ulimits = 'default_ulimits = ["nofile=20000:20000","nproc=32768:32768"]';

describe("podman's system-wide configuration", () => {
  it.each([
    ['an empty file', ''],
    [
      'a file with other settings',
      '[containers]\nlog_size_max = 1000\n\n[engine]\nevents_logger = "file"\n',
    ],
    [
      'a file with other values for ours',
      '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "crun"\n',
    ],
  ])('gets our ulimits and runtime into %s, keeping the rest', (_, before) => {
    const after = withOurSettings(before);
    expect(after).toContain(`[containers]\n${ulimits}`);
    expect(after).toMatch(/\[engine\]\nruntime = "runc"/);
    expect(after.match(/default_ulimits/g)).toHaveLength(1);
    expect(after.match(/^runtime/gm)).toHaveLength(1);
    for (const kept of ['log_size_max = 1000', 'events_logger = "file"']) {
      if (before.includes(kept)) expect(after).toContain(kept);
    }
  });

  it('is left as it is once our settings are there', () => {
    const once = withOurSettings('[engine]\nevents_logger = "file"\n');
    expect(withOurSettings(once)).toBe(once);
  });
});

describe('the image recipes', () => {
  it('bootstrap a slim bookworm minbase from the main, updates and security suites', () => {
    const args = debianBootstrapArgs(DEFAULT_MIRRORS, 'out.tar');
    expect(args.filter((arg) => arg.startsWith('--dpkgopt='))).toContain(
      '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    );
    expect(args.filter((arg) => !arg.startsWith('--dpkgopt='))).toEqual([
      '--variant=minbase',
      '--include=ca-certificates,libstdc++6',
      'bookworm',
      'out.tar',
      'deb http://deb.debian.org/debian bookworm main',
      'deb http://deb.debian.org/debian bookworm-updates main',
      'deb http://deb.debian.org/debian-security bookworm-security main',
    ]);
  });

  it('hash the parts of a recipe so that moving text between parts changes it', () => {
    expect(recipeHash(['ab', 'c'])).not.toBe(recipeHash(['a', 'bc']));
    expect(recipeHash(['ab', 'c'])).toBe(recipeHash(['ab', 'c']));
  });

  it('keep each base build under a local tag of its recipe', () => {
    expect(recipeTag('docker.io/library/node:24-slim', 'abc')).toBe(
      'localhost/tse/node:24-slim-abc',
    );
    expect(recipeTag('localhost/tse/debian:bookworm-minbase', 'abc')).toBe(
      'localhost/tse/debian:bookworm-minbase-abc',
    );
  });

  it('give npm the build machine CA only through a mount and a dependencies-stage argument', () => {
    const args = productBuildArgs(root, 'engine', '/etc/ssl/certs/ca-certificates.crt');
    expect(args).toEqual(
      expect.arrayContaining([
        '--pull=never',
        '--build-arg',
        'NODE_EXTRA_CA_CERTS=/run/build-ca/ca-certificates.crt',
        '-v',
        '/etc/ssl/certs/ca-certificates.crt:/run/build-ca/ca-certificates.crt:ro',
      ]),
    );
    expect(args.slice(args.indexOf('--format'), args.indexOf('--format') + 2)).toEqual([
      '--format',
      'docker',
    ]);
    const withoutCa = productBuildArgs(root, 'engine');
    expect(withoutCa).not.toContain('-v');
    expect(withoutCa.join(' ')).not.toContain('NODE_EXTRA_CA_CERTS');
  });
});

describe('the build lock', () => {
  it('makes two builds on one cache directory take turns', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tse-lock-'));
    const events: string[] = [];
    const build = (name: string) =>
      withBuildLock(cache, async () => {
        events.push(`${name} starts`);
        await sleep(200);
        events.push(`${name} ends`);
      });
    await Promise.all([build('a'), build('b')]);
    expect(events).toEqual(['a starts', 'a ends', 'b starts', 'b ends']);
    rmSync(cache, { recursive: true, force: true });
  });

  it('is taken over from a process that died holding it', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'tse-lock-'));
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    writeFileSync(join(cache, 'build.lock'), String(dead));
    await expect(withBuildLock(cache, async () => 'built', { timeoutMs: 2000 })).resolves.toBe(
      'built',
    );
    rmSync(cache, { recursive: true, force: true });
  });
});
