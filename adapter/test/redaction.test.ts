import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseEnvironment } from '../src/environment.ts';
import { redactUrl } from '../src/redaction.ts';

describe('redactUrl', () => {
  it.each([
    ['postgres://admin:S3cret@db:5432/app', 'postgres://***@db:5432/app'],
    ['postgres://admin:S3cret@[bad/db', 'postgres://***@[bad/db'],
    ['redis://:S3c@ret@ho st:6379', 'redis://***@ho st:6379'],
    [
      'postgres://db/app?user=a&password=S3cret&sslmode=require',
      'postgres://db/app?user=a&password=***&sslmode=require',
    ],
    ['admin:S3cret@db', '***@db'],
    ['redis://db:6379', 'redis://db:6379'],
  ])('shows %s as %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
    expect(redactUrl(url)).not.toContain('S3c');
  });
});

describe('parseEnvironment', () => {
  it('names a malformed URL variable without echoing its password', () => {
    const schema = z.object({ POSTGRES_URL: z.url() });
    expect(() => parseEnvironment(schema, { POSTGRES_URL: 'postgres://u:S3cret@[x' })).toThrow(
      /POSTGRES_URL "postgres:\/\/\*\*\*@\[x" is invalid/,
    );
    try {
      parseEnvironment(schema, { POSTGRES_URL: 'postgres://u:S3cret@[x' });
    } catch (error) {
      expect(
        JSON.stringify({ ...(error as object), message: (error as Error).message }),
      ).not.toContain('S3cret');
    }
  });

  it('shows no part of a token that breaks a rule', () => {
    const schema = z.object({ API_TOKEN: z.string().min(32, 'must be at least 32 characters') });
    let caught: unknown;
    try {
      parseEnvironment(schema, { API_TOKEN: 'short-S3cret' });
    } catch (error) {
      caught = error;
    }
    expect((caught as Error).message).toBe(
      'API_TOKEN "***" is invalid: must be at least 32 characters',
    );
    expect(JSON.stringify({ ...(caught as object) })).not.toContain('S3cret');
  });
});
