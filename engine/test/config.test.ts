import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateToken, ValidationError } from '@tse/adapter';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';

const TRADE = 't'.repeat(32);
const READ = 'r'.repeat(40);

/** The ValidationError loadConfig throws for an environment. */
function refusal(env: Record<string, string>): ValidationError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(Object.keys(env))}`);
}

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
      managementPort: 8084,
      apiToken: undefined,
      apiReadToken: undefined,
      rateLimitPerSecond: 100,
      maxEventStreams: 64,
    });
  });

  it('reads the tokens and the management port', () => {
    expect(
      loadConfig({ API_TOKEN: TRADE, API_READ_TOKEN: READ, MANAGEMENT_PORT: '9000' }),
    ).toMatchObject({ apiToken: TRADE, apiReadToken: READ, managementPort: 9000 });
  });

  it.each(['production', 'kubernetes'])(
    'refuses to start in %s without API_TOKEN, naming it and the rule',
    (environment) => {
      const error = refusal({ ENVIRONMENT: environment });
      expect(error.field).toBe('API_TOKEN');
      expect(error.message).toBe(
        `API_TOKEN "" is invalid: must be set when ENVIRONMENT is ${environment}: an engine there never serves its trading API unauthenticated`,
      );
    },
  );

  it.each(['development', 'testing', 'docker'])(
    'runs open in %s without API_TOKEN',
    (environment) => {
      expect(loadConfig({ ENVIRONMENT: environment }).apiToken).toBeUndefined();
    },
  );

  it.each([
    [{ API_READ_TOKEN: READ }, 'API_READ_TOKEN', /needs API_TOKEN as well/],
    [{ API_TOKEN: TRADE, API_READ_TOKEN: TRADE }, 'API_READ_TOKEN', /must differ from API_TOKEN/],
    [{ API_TOKEN: 'short-S3cret' }, 'API_TOKEN', /must be at least 32 characters/],
    [{ API_TOKEN: TRADE, API_READ_TOKEN: 'short-S3cret' }, 'API_READ_TOKEN', /at least 32/],
  ])('refuses tokens that cannot hold: %j, without showing them', (env, field, rule) => {
    const error = refusal(env);
    expect(error.field).toBe(field);
    expect(error.message).toMatch(rule);
    expect(JSON.stringify({ ...error, message: error.message })).not.toMatch(/S3cret|tttt|rrrr/);
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
      expect(loadConfig({ ENVIRONMENT: environment, API_TOKEN: TRADE }).environment).toBe(
        environment,
      );
    },
  );

  it.each([
    [{ ENVIRONMENT: 'prod' }, 'ENVIRONMENT', /must be one of development, testing/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /must be one of trace, debug/],
    [{ HTTP_PORT: 'http' }, 'HTTP_PORT', /whole number from 0 to 65535/],
    [{ GRPC_PORT: '70000' }, 'GRPC_PORT', /65535/],
    [{ MANAGEMENT_PORT: '-1' }, 'MANAGEMENT_PORT', /whole number from 0 to 65535/],
    [{ RATE_LIMIT_PER_SECOND: '-1' }, 'RATE_LIMIT_PER_SECOND', /0 for no limit/],
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

  it('accepts the tokens the operator generates', () => {
    const config = loadConfig({
      ENVIRONMENT: 'kubernetes',
      API_TOKEN: generateToken(),
      API_READ_TOKEN: generateToken(),
    });
    expect(config.environment).toBe('kubernetes');
  });

  it('is read once into a value nothing can change', () => {
    const config = loadConfig({ SERVICE_INSTANCE_NAME: 'trading-system-engine-LH' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.identity)).toBe(true);
  });
});
