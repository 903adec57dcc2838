import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const base = { POSTGRES_ADMIN_URL: 'postgres://admin@db:5432/app' };

describe('WATCH_NAMESPACES', () => {
  it('is every namespace when unset or empty', () => {
    expect(loadConfig(base).watchNamespaces).toEqual([]);
    expect(loadConfig({ ...base, WATCH_NAMESPACES: ' , ' }).watchNamespaces).toEqual([]);
  });

  it('watches each namespace once, in the order given', () => {
    const config = loadConfig({ ...base, WATCH_NAMESPACES: 'team-b, team-a,team-b ,team-a' });
    expect(config.watchNamespaces).toEqual(['team-b', 'team-a']);
  });

  it('names the variable, the value and the rule when a name is not a namespace', () => {
    expect(() => loadConfig({ ...base, WATCH_NAMESPACES: 'team-a,Team_B' })).toThrow(
      /WATCH_NAMESPACES.*comma-separated list of namespace names/s,
    );
  });
});
