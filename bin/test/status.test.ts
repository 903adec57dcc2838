import { describe, expect, it } from 'vitest';
import { formatTable } from '../src/status.ts';

describe('formatTable', () => {
  it('aligns the columns under a header and says why an instance is not Ready', () => {
    const table = formatTable([
      {
        namespace: 'trading',
        name: 'lh',
        instance: 'trading-system-engine-LH',
        schema: 'trading_system_engine_lh',
        redisNamespace: 'trading_system:LH',
        ready: 'True',
        why: '',
      },
      {
        namespace: 'trading',
        name: 'core',
        instance: 'trading-system-core-LH',
        schema: '',
        redisNamespace: '',
        ready: 'False',
        why: 'NameConflict: held by trading/lh',
      },
    ]);
    const lines = table.split('\n');
    expect(lines[0]).toMatch(
      /^NAMESPACE\s+NAME\s+INSTANCE\s+SCHEMA\s+REDIS NAMESPACE\s+READY\s+WHY NOT$/,
    );
    expect(lines[1]).toMatch(
      /^trading\s+lh\s+trading-system-engine-LH\s+trading_system_engine_lh\s+trading_system:LH\s+True$/,
    );
    expect(lines[2]).toContain('False  NameConflict: held by trading/lh');
    expect(lines[1]?.indexOf('trading-system-engine-LH')).toBe(lines[0]?.indexOf('INSTANCE'));
  });
});
