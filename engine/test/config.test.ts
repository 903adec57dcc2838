import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '@tse/adapter';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

describe('loadConfig', () => {
  it('runs as the singleton when no instance name is set', () => {
    const config = loadConfig({});
    expect(config.identity).toEqual({
      serviceName: 'trading-system-engine',
      instanceName: 'trading-system-engine',
      postgresSchema: 'trading',
      redisNamespace: 'trading',
    });
    expect(config).toMatchObject({
      environment: 'development',
      logLevel: 'info',
      httpPort: 8083,
      grpcPort: 50053,
    });
  });

  it('treats an empty instance name as the singleton', () => {
    expect(loadConfig({ SERVICE_INSTANCE_NAME: '' }).identity.instanceName).toBe(
      'trading-system-engine',
    );
  });

  it.each([
    ['trading-system-engine-LH', 'trading_system_engine_lh', 'trading_system:LH'],
    ['trading-system-engine-Alpha-2', 'trading_system_engine_alpha_2', 'trading_system:Alpha-2'],
  ])('derives the identity of instance %s', (instance, schema, namespace) => {
    const { identity } = loadConfig({ SERVICE_INSTANCE_NAME: instance });
    expect(identity).toMatchObject({
      instanceName: instance,
      postgresSchema: schema,
      redisNamespace: namespace,
    });
  });

  it('lets POSTGRES_SCHEMA and REDIS_NAMESPACE win over the derivation', () => {
    const { identity } = loadConfig({
      SERVICE_INSTANCE_NAME: 'trading-system-engine-LH',
      POSTGRES_SCHEMA: 'custom_schema',
      REDIS_NAMESPACE: 'custom:namespace',
    });
    expect(identity).toMatchObject({
      postgresSchema: 'custom_schema',
      redisNamespace: 'custom:namespace',
    });
  });

  it.each([
    ['DEBUG', 'debug'],
    ['Info', 'info'],
    ['WARNING', 'warn'],
    ['critical', 'fatal'],
  ])('accepts LOG_LEVEL %s in any case', (given, level) => {
    expect(loadConfig({ LOG_LEVEL: given }).logLevel).toBe(level);
  });

  it.each(['development', 'testing', 'production', 'docker', 'kubernetes'])(
    'accepts ENVIRONMENT %s',
    (environment) => {
      expect(loadConfig({ ENVIRONMENT: environment }).environment).toBe(environment);
    },
  );

  it.each([
    [{ ENVIRONMENT: 'prod' }, 'ENVIRONMENT', /must be one of development, testing/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /must be one of trace, debug/],
    [{ HTTP_PORT: 'http' }, 'HTTP_PORT', /whole number from 0 to 65535/],
    [{ GRPC_PORT: '70000' }, 'GRPC_PORT', /65535/],
    [{ POSTGRES_URL: 'mysql://x' }, 'POSTGRES_URL', /postgres:\/\/ URL/],
    [{ SERVICE_INSTANCE_NAME: 'bad name' }, 'SERVICE_INSTANCE_NAME', /letters, digits/],
    [{ POSTGRES_SCHEMA: 'public' }, 'POSTGRES_SCHEMA', /must not be "public"/],
    [{ REDIS_NAMESPACE: 'a*' }, 'REDIS_NAMESPACE', /glob/],
  ])('refuses %j naming the variable', (env, variable, rule) => {
    let error: unknown;
    try {
      loadConfig(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(variable);
    expect((error as ValidationError).message).toMatch(rule);
  });

  it('names the variable behind a derived name that breaks a rule', () => {
    expect(() => loadConfig({ SERVICE_INSTANCE_NAME: 'select' })).toThrow(
      /^POSTGRES_SCHEMA \(derived from instanceName "select"/,
    );
  });

  it('reads TLS to the stores from the URLs and the Redis CA file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tse-engine-ca-'));
    try {
      const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
      writeFileSync(join(dir, 'ca.crt'), ca);
      const config = loadConfig({
        POSTGRES_URL: `postgres://u:p@db/app?sslmode=verify-full&sslrootcert=${join(dir, 'ca.crt')}`,
        REDIS_URL: 'rediss://u:p@cache:6380',
        REDIS_CA_FILE: join(dir, 'ca.crt'),
      });
      expect(config.postgresTls).toEqual({ mode: 'verify-full', ca });
      expect(config.redisTls).toEqual({ mode: 'verify-full', ca });
      expect(loadConfig({}).postgresTls).toEqual({ mode: 'disable' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [{ POSTGRES_URL: 'postgres://u:S3cret@db/app?sslmode=prefer' }, 'POSTGRES_URL sslmode'],
    [{ REDIS_URL: 'rediss://u:S3cret@cache', REDIS_CA_FILE: '/nowhere.crt' }, 'REDIS_CA_FILE'],
    [{ REDIS_URL: 'redis://u:S3cret@cache', REDIS_CA_FILE: '/etc/os-release' }, 'REDIS_CA_FILE CA'],
  ])('refuses TLS settings that cannot hold: %j', (env, field) => {
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).field).toBe(field);
    expect((caught as Error).message).not.toContain('S3cret');
  });

  it('is read once into a value nothing can change', () => {
    const config = loadConfig({ SERVICE_INSTANCE_NAME: 'trading-system-engine-LH' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.identity)).toBe(true);
  });
});
