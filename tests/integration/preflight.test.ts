import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const preflight = fileURLToPath(new URL('../support/preflight.ts', import.meta.url));

describe('npm test without any store', () => {
  it('fails at once with one line saying what to install or set', () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TEST_POSTGRES_BIN: '/nonexistent',
      TEST_REDIS_SERVER: '/nonexistent/redis-server',
    };
    delete env.TEST_POSTGRES_URL;
    delete env.TEST_REDIS_URL;
    delete env.DOCKER_HOST;
    const result = spawnSync(process.execPath, [preflight], { env, encoding: 'utf8' });
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /PostgreSQL: set TEST_POSTGRES_URL, start a Docker engine, or apt-get install postgresql/,
    );
    expect(lines[0]).toMatch(/Redis: set TEST_REDIS_URL.*apt-get install redis-server/);
  });

  it('names the tools missing from the binary cache and the script that builds them', () => {
    const env = { ...process.env, TSE_K8S_BIN_DIR: '/nonexistent' };
    const result = spawnSync(process.execPath, [preflight], { env, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/promtool, prometheus, registry.* build them with \S+build\.sh/);
  });

  it('passes when the stores and tools can be had', () => {
    expect(spawnSync(process.execPath, [preflight], { encoding: 'utf8' }).status).toBe(0);
  });
});
