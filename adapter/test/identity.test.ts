import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.ts';
import {
  arbitrateClaims,
  deriveIdentity,
  findConflict,
  pythonSplit,
  refusalOf,
} from '../src/identity/index.ts';

describe('deriveIdentity', () => {
  it.each([
    ['', 'trading', 'trading'],
    ['trading-system-engine', 'trading', 'trading'],
    ['trading-system-engine-LH', 'trading_system_engine_lh', 'trading_system:LH'],
    ['trading-system-engine-Alpha', 'trading_system_engine_alpha', 'trading_system:Alpha'],
    ['trading-system-engine-Alpha-2', 'trading_system_engine_alpha_2', 'trading_system:Alpha-2'],
  ])('derives the seed vector for instance %j', (instanceName, schema, namespace) => {
    const identity = deriveIdentity({ instanceName });
    expect(identity).toEqual({
      serviceName: 'trading-system-engine',
      instanceName: instanceName || 'trading-system-engine',
      postgresSchema: schema,
      redisNamespace: namespace,
    });
  });

  it('lets explicit overrides win', () => {
    const identity = deriveIdentity({
      instanceName: 'trading-system-engine-LH',
      postgresSchema: 'custom_schema',
      redisNamespace: 'custom:namespace',
    });
    expect(identity.postgresSchema).toBe('custom_schema');
    expect(identity.redisNamespace).toBe('custom:namespace');
  });

  it('derives two-part names with underscores', () => {
    expect(deriveIdentity({ instanceName: 'alpha-1' })).toMatchObject({
      postgresSchema: 'alpha_1',
      redisNamespace: 'alpha_1',
    });
  });

  it('keeps the remainder past the third part, as Python does', () => {
    expect(deriveIdentity({ instanceName: 'a-b-c-d-e' }).redisNamespace).toBe('a_b:d-e');
    expect(pythonSplit('a-b-c-d', '-', 2)).toEqual(['a', 'b', 'c-d']);
    expect(pythonSplit('abc', '-', 2)).toEqual(['abc']);
  });

  it.each([
    [{ instanceName: 'bad_name' }, 'instanceName', 'bad_name'],
    [{ instanceName: '-lead' }, 'instanceName', '-lead'],
    [{ instanceName: 'x'.repeat(64) }, 'instanceName', 'x'.repeat(64)],
    [{ serviceName: 'svc!' }, 'serviceName', 'svc!'],
    [{ instanceName: 'a', postgresSchema: 'public' }, 'postgresSchema', 'public'],
    [{ instanceName: 'a', postgresSchema: 'pg_mine' }, 'postgresSchema', 'pg_mine'],
    [{ instanceName: 'a', postgresSchema: 'Mixed' }, 'postgresSchema', 'Mixed'],
    [
      { instanceName: 'a', postgresSchema: 'information_schema' },
      'postgresSchema',
      'information_schema',
    ],
    [{ instanceName: 'a', redisNamespace: 'a:*' }, 'redisNamespace', 'a:*'],
    [{ instanceName: 'a', redisNamespace: 'a[b]' }, 'redisNamespace', 'a[b]'],
    [{ instanceName: 'a', redisNamespace: 'a b' }, 'redisNamespace', 'a b'],
    [{ instanceName: 'a', redisNamespace: 'a:' }, 'redisNamespace', 'a:'],
  ])('refuses %j naming the field and the value', (input, field, value) => {
    const error = catchError(() => deriveIdentity(input));
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field, value });
    expect(error.message).toContain(JSON.stringify(value));
  });

  it('says when a derived name breaks a rule and how to fix it', () => {
    const error = catchError(() => deriveIdentity({ instanceName: 'select' }));
    expect(error.message).toMatch(
      /postgresSchema \(derived from instanceName "select".*"select" is invalid: is a reserved word/,
    );
  });

  it('refuses a singleton whose first part is upper-case', () => {
    expect(() => deriveIdentity({ serviceName: 'Trading-engine' })).toThrow(/lower-case/);
  });

  it('gives valid names or a ValidationError for any input', () => {
    const nameChars = fc.constantFrom(...'abcXYZ019-_:.*?[]\\ '.split(''));
    const name = fc.string({ unit: nameChars, minLength: 0, maxLength: 70 });
    fc.assert(
      fc.property(
        name,
        name,
        fc.option(name),
        fc.option(name),
        (serviceName, instanceName, schema, ns) => {
          let identity: ReturnType<typeof deriveIdentity>;
          try {
            identity = deriveIdentity({
              serviceName,
              instanceName,
              postgresSchema: schema ?? undefined,
              redisNamespace: ns ?? undefined,
            });
          } catch (error) {
            expect(error).toBeInstanceOf(ValidationError);
            return;
          }
          expect(identity.postgresSchema).toMatch(/^[a-z_][a-z0-9_]{0,62}$/);
          expect(identity.postgresSchema).not.toMatch(/^(public|information_schema|pg_.*)$/);
          expect(identity.redisNamespace).toMatch(/^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*$/);
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('findConflict', () => {
  const names = (postgresSchema: string, redisNamespace: string) => ({
    postgresSchema,
    redisNamespace,
  });

  it('finds a shared schema', () => {
    expect(findConflict(names('a', 'x'), names('a', 'y'))?.kind).toBe('schema');
  });

  it('finds a shared namespace, as core-LH and engine-LH derive', () => {
    const core = deriveIdentity({ instanceName: 'trading-system-core-LH' });
    const engine = deriveIdentity({ instanceName: 'trading-system-engine-LH' });
    expect(findConflict(core, engine)?.kind).toBe('namespace');
  });

  it('finds a namespace that is a ":"-prefix of another, either way round', () => {
    expect(findConflict(names('a', 'a:b'), names('b', 'a:b:c'))?.kind).toBe('namespace-prefix');
    expect(findConflict(names('b', 'a:b:c'), names('a', 'a:b'))?.kind).toBe('namespace-prefix');
  });

  it('lets names that merely share leading characters live together', () => {
    expect(findConflict(names('a', 'a:b'), names('b', 'a:bc'))).toBeUndefined();
  });
});

describe('arbitrateClaims', () => {
  const claim = (key: string, createdAt: string, ns: string) => ({
    key,
    createdAt,
    identity: { postgresSchema: key.replace('/', '_'), redisNamespace: ns },
  });

  it('lets the earlier-created instance keep the name', () => {
    const refused = arbitrateClaims([
      claim('b/late', '2026-01-02T00:00:00Z', 'x'),
      claim('a/early', '2026-01-01T00:00:00Z', 'x'),
    ]);
    expect([...refused.keys()]).toEqual(['b/late']);
    expect(refused.get('b/late')?.heldBy).toBe('a/early');
  });

  it('breaks ties in creation time by key, whatever the input order', () => {
    const t = '2026-01-01T00:00:00Z';
    const one = arbitrateClaims([claim('ns/b', t, 'x'), claim('ns/a', t, 'x')]);
    const two = arbitrateClaims([claim('ns/a', t, 'x'), claim('ns/b', t, 'x')]);
    expect([...one.keys()]).toEqual(['ns/b']);
    expect([...two.keys()]).toEqual(['ns/b']);
  });

  it('never takes names away from a claim that already holds them', () => {
    const t = '2026-01-01T00:00:00Z';
    const refused = arbitrateClaims([
      claim('ns/a', t, 'x'),
      { ...claim('ns/b', t, 'x'), holds: true },
    ]);
    expect([...refused.keys()]).toEqual(['ns/a']);
  });

  it('does not let a refused claim block a third one', () => {
    const refused = arbitrateClaims([
      claim('ns/a', '2026-01-01T00:00:00Z', 'x:y'),
      claim('ns/b', '2026-01-02T00:00:00Z', 'x'),
      claim('ns/c', '2026-01-03T00:00:00Z', 'x:z'),
    ]);
    expect([...refused.keys()]).toEqual(['ns/b']);
  });
});

function catchError(run: () => unknown): Error {
  try {
    run();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('refusalOf', () => {
  const claim = (key: string, createdAt: string, schema: string, ns: string) => ({
    key,
    createdAt,
    identity: { postgresSchema: schema, redisNamespace: ns },
  });

  it('decides as arbitrateClaims does, for random sets of claims', () => {
    const names = fc.constantFrom('a', 'b', 'a:b', 'a:b:c', 'a:c', 'b:a', 'c');
    const claims = fc.uniqueArray(
      fc.record({
        key: fc.string({ minLength: 1, maxLength: 3 }),
        createdAt: fc.constantFrom('1', '2', '3'),
        schema: fc.constantFrom('s1', 's2', 's3', 's4'),
        ns: names,
      }),
      { selector: (c) => c.key, maxLength: 12 },
    );
    fc.assert(
      fc.property(claims, (raw) => {
        const all = raw.map((c) => claim(c.key, c.createdAt, c.schema, c.ns));
        const expected = arbitrateClaims(all);
        for (const c of all) expect(refusalOf(c.key, all)).toEqual(expected.get(c.key));
      }),
      { numRuns: 500 },
    );
  });
});
