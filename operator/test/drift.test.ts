import { describe, expect, it } from 'vitest';
import { driftPatch, isDerivative } from '../src/controller/drift.ts';
import { parseQuantity, sameQuantity } from '../src/controller/quantity.ts';

describe('quantities', () => {
  it.each([
    ['0.5', '500m', true],
    ['1Gi', '1024Mi', true],
    ['1e3', '1k', true],
    ['1E3', '1000', true],
    ['1.5Gi', '1536Mi', true],
    ['.5', '0.5', true],
    ['2', '2000m', true],
    ['100M', '1e8', true],
    ['1Ki', '1024', true],
    ['1m', '1000000n', true],
    ['+3', '3', true],
    ['1G', '1Gi', false],
    ['1M', '1Mi', false],
    ['500m', '5', false],
    ['1E', '1e1', false],
    ['1', '-1', false],
  ])('%s and %s: the same value is %s', (a, b, same) => {
    expect(sameQuantity(a, b)).toBe(same);
    expect(sameQuantity(b, a)).toBe(same);
  });

  it('numbers are quantities too', () => {
    expect(sameQuantity(2, '2000m')).toBe(true);
  });

  it.each(['', 'abc', '1.2.3', '1Gb', 'Gi', '1 Gi', '1e', '0x10', '1e999'])(
    '%j is not a quantity',
    (text) => {
      expect(parseQuantity(text)).toBeUndefined();
      expect(sameQuantity(text, text)).toBe(false);
    },
  );
});

const container = (resources: Record<string, unknown>, env: { name: string; value: string }[]) => ({
  spec: {
    template: {
      metadata: { annotations: { 'trading.tse.io/credentials': 'abc' } },
      spec: { containers: [{ name: 'engine', resources, env }] },
    },
  },
});

describe('isDerivative', () => {
  it('compares resource quantities by value, and nothing else', () => {
    const desired = container({ requests: { cpu: '0.5', memory: '1024Mi' }, limits: { cpu: 1 } }, [
      { name: 'RATIO', value: '0.5' },
    ]);
    const canonical = container(
      { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1' } },
      [{ name: 'RATIO', value: '0.5' }],
    );
    expect(isDerivative(desired, canonical)).toBe(true);
    // An env value that looks like a quantity is a string: 500m is not 0.5 there.
    const envChanged = container(
      { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '1' } },
      [{ name: 'RATIO', value: '500m' }],
    );
    expect(isDerivative(desired, envChanged)).toBe(false);
    const moreCpu = container({ requests: { cpu: '600m', memory: '1Gi' }, limits: { cpu: '1' } }, [
      { name: 'RATIO', value: '0.5' },
    ]);
    expect(isDerivative(desired, moreCpu)).toBe(false);
  });

  it('ignores annotations and fields others added', () => {
    const desired = container({}, []);
    const live = structuredClone(desired) as ReturnType<typeof container> & {
      spec: { revisionHistoryLimit?: number };
    };
    live.spec.template.metadata.annotations = {
      ...live.spec.template.metadata.annotations,
      'kubectl.kubernetes.io/restartedAt': '2026-01-01T00:00:00Z',
    } as typeof live.spec.template.metadata.annotations;
    live.spec.revisionHistoryLimit = 10;
    expect(isDerivative(desired, live)).toBe(true);
  });

  it('arrays match element by element, with the same length', () => {
    expect(isDerivative([{ a: 1 }], [{ a: 1, b: 2 }])).toBe(true);
    expect(isDerivative([{ a: 1 }], [{ a: 1 }, { a: 2 }])).toBe(false);
    expect(isDerivative([{ a: 1 }, { a: 2 }], [{ a: 2 }, { a: 1 }])).toBe(false);
    // The API server drops empty lists and maps it stores: empty matches absent, not a non-empty one.
    expect(isDerivative({ list: [], map: {} }, {})).toBe(true);
    expect(isDerivative({ list: [] }, { list: [1] })).toBe(false);
    // Asked the other way (does live add anything?), an empty selector is not an absent one.
    expect(isDerivative({ namespaceSelector: {} }, {}, [], false)).toBe(false);
  });
});

describe('driftPatch', () => {
  it('replaces only the fields that drifted, keeping annotations of others', () => {
    const desired = {
      metadata: { labels: { app: 'engine' } },
      ...container({ requests: { cpu: '0.5' } }, [{ name: 'A', value: '1' }]),
    };
    const live = {
      metadata: { labels: { app: 'engine', theirs: 'x' } },
      ...container({ requests: { cpu: '500m' } }, [{ name: 'A', value: '2' }]),
    };
    live.spec.template.metadata.annotations = {
      'trading.tse.io/credentials': 'old',
      'kubectl.kubernetes.io/restartedAt': 'now',
    } as typeof live.spec.template.metadata.annotations;
    expect(driftPatch(desired, live)).toEqual([
      {
        op: 'replace',
        path: '/spec/template/metadata/annotations/trading.tse.io~1credentials',
        value: 'abc',
      },
      {
        op: 'replace',
        path: '/spec/template/spec/containers',
        value: desired.spec.template.spec.containers,
      },
    ]);
  });

  it('coarse: replaces an object under spec whose own values drifted, for fields that contradict ours', () => {
    const desired = { spec: { strategy: { type: 'Recreate' }, template: { spec: { a: 1 } } } };
    const live = {
      spec: {
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1 } },
        template: { spec: { a: 2, b: 3 } },
      },
    };
    expect(driftPatch(desired, live).map((operation) => operation.path)).toEqual([
      '/spec/strategy/type',
      '/spec/template/spec/a',
    ]);
    expect(driftPatch(desired, live, { coarse: true })).toEqual([
      { op: 'replace', path: '/spec/strategy', value: { type: 'Recreate' } },
      { op: 'replace', path: '/spec/template/spec', value: { a: 1 } },
    ]);
    // Never the whole spec, nor metadata maps others write to.
    const replicas = { metadata: { labels: { a: 'b' } }, spec: { replicas: 1 } };
    const theirs = {
      metadata: { labels: { a: 'c', x: 'y' } },
      spec: { replicas: 2, paused: false },
    };
    expect(driftPatch(replicas, theirs, { coarse: true }).map((o) => o.path)).toEqual([
      '/metadata/labels/a',
      '/spec/replicas',
    ]);
  });

  it('adds a map that is missing whole, and nothing when nothing drifted', () => {
    const desired = { metadata: { annotations: { a: 'b' } }, data: { key: 'dmFsdWU=' } };
    expect(driftPatch(desired, { metadata: {} })).toEqual([
      { op: 'add', path: '/metadata/annotations', value: { a: 'b' } },
      { op: 'add', path: '/data', value: { key: 'dmFsdWU=' } },
    ]);
    expect(driftPatch(desired, structuredClone(desired))).toEqual([]);
  });
});
