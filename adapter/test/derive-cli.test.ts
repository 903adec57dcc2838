import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('../src/cli/derive.ts', import.meta.url));
const derive = (...args: string[]) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

describe('the derive command', () => {
  it('prints the identity as one JSON object', () => {
    const result = derive('trading-system-engine-LH');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      serviceName: 'trading-system-engine',
      instanceName: 'trading-system-engine-LH',
      postgresSchema: 'trading_system_engine_lh',
      redisNamespace: 'trading_system:LH',
    });
  });

  it('treats no instance name as the singleton and takes overrides', () => {
    const result = derive('--service', 'risk-monitor', '--namespace', 'risk:main');
    expect(JSON.parse(result.stdout)).toMatchObject({
      instanceName: 'risk-monitor',
      postgresSchema: 'risk',
      redisNamespace: 'risk:main',
    });
  });

  it('says what is wrong in one line and exits 2 on bad input', () => {
    const result = derive('x', '--schema', 'pg_catalog');
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toContain('postgresSchema "pg_catalog" is invalid');
  });

  it('refuses unknown options with exit 2 and no stack trace', () => {
    const result = derive('--frobnicate');
    expect(result.status).toBe(2);
    expect(result.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });
});
