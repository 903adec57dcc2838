import { describe, expect, it } from 'vitest';
import { AdminSecretError, checkAdminUrl } from '../src/controller/admin.ts';

describe('checkAdminUrl', () => {
  it('accepts the URLs of the store it is for', () => {
    expect(() => checkAdminUrl('postgres://a:b@db/app', 'PostgreSQL', 'x')).not.toThrow();
    expect(() => checkAdminUrl('rediss://a:b@cache:6380', 'Redis', 'x')).not.toThrow();
  });

  it.each([
    ['postgres://admin:S3cret@[bad/db', 'PostgreSQL'],
    ['redis://admin:S3cret@cache:6379', 'PostgreSQL'],
    ['admin:S3cret@cache:6379', 'Redis'],
  ])('refuses %s for %s without echoing the password', (url, store) => {
    let caught: unknown;
    try {
      checkAdminUrl(url, store, 'spec.postgres.adminSecretRef: Secret t/admin key "url"');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AdminSecretError);
    expect((caught as Error).message).toMatch(/Secret t\/admin key "url" is not a/);
    expect(
      JSON.stringify({ ...(caught as object), message: (caught as Error).message }),
    ).not.toContain('S3cret');
  });
});
