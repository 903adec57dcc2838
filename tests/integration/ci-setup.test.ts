import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const checkGo = join(root, '.ci/check-go');
const run = (...args: string[]) => spawnSync(checkGo, args, { encoding: 'utf8' });

describe('.ci/setup, checking Go', () => {
  it('finds the Go that builds the control plane and prints its directory', () => {
    const result = run();
    expect(result.stderr).toMatch(/^Go \S+ at \S+ \(>= \S+\)/);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toMatch(/\/bin$/);
  });

  it('refuses a Go older than the go directive, saying which and what to do, installing nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tse-go-'));
    writeFileSync(join(dir, 'go.mod'), 'module example.test/future\n\ngo 9.99.0\n');
    const result = run(join(dir, 'go.mod'));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/is Go \S+; .*needs go >= 9\.99\.0/);
    expect(result.stderr).toMatch(/Install Go >= 9\.99\.0 from https:\/\/go\.dev\/dl\//);
    expect(result.stdout).toBe('');
    const setup = readFileSync(fileURLToPath(new URL('../../.ci/setup', import.meta.url)), 'utf8');
    expect(setup).toMatch(/\.ci\/check-go/);
    expect(setup).not.toMatch(/golang-go/);
  });
});

describe('.ci/setup, installing the npm packages', () => {
  it('runs npm ci without a warning, even when the system Node is older than the pinned one', () => {
    // The manifests alone, in a scratch directory: --dry-run resolves and
    // checks every package's engines without touching this checkout.
    const dir = mkdtempSync(join(tmpdir(), 'tse-npm-ci-'));
    for (const file of ['package.json', 'package-lock.json'])
      copyFileSync(join(root, file), join(dir, file));
    for (const workspace of ['adapter', 'engine', 'operator', 'bin']) {
      mkdirSync(join(dir, workspace));
      copyFileSync(join(root, workspace, 'package.json'), join(dir, workspace, 'package.json'));
    }
    // The PATH of a fresh shell: not this run's node_modules/.bin, which has the pinned Node.
    const path = (process.env.PATH ?? '')
      .split(':')
      .filter((entry) => !entry.includes('node_modules'))
      .join(':');
    const result = spawnSync(join(root, '.ci/npm-ci'), ['--dry-run'], {
      cwd: dir,
      encoding: 'utf8',
      env: { ...process.env, PATH: path },
    });
    expect(result.stderr).not.toMatch(/warn/i);
    expect(result.stdout).toMatch(/added \d+ packages/);
    expect(result.status).toBe(0);
  });
});
