import { ENGINE_ENV } from '@tse/adapter';
import { describe, expect, it } from 'vitest';
import { buildDeployment } from '../src/builders/deployment.ts';
import { identityOf, instance, withSpec } from './fixtures.ts';

const envOf = (spec: Parameters<typeof withSpec>[0]) => {
  const object = instance('lh', withSpec(spec));
  const deployment = buildDeployment(object, {
    identity: identityOf(object),
    image: 'trading-engine:1.4.2',
    credentialsChecksum: 'abc',
  });
  return deployment.spec?.template.spec?.containers[0]?.env ?? [];
};

describe('spec.risk', () => {
  it("reaches the engine under the adapter's variable names, as the decimal strings written", () => {
    const env = envOf({ risk: { maxPositionSize: '1000.5', maxDailyLoss: '250' } });
    expect(env).toEqual(
      expect.arrayContaining([
        { name: ENGINE_ENV.maxPositionSize, value: '1000.5' },
        { name: ENGINE_ENV.maxDailyLoss, value: '250' },
      ]),
    );
    expect(ENGINE_ENV).toMatchObject({
      maxPositionSize: 'MAX_POSITION_SIZE',
      maxDailyLoss: 'MAX_DAILY_LOSS',
    });
  });

  it('sets no variable for a limit that is not set', () => {
    const names = envOf({ risk: { maxDailyLoss: '250' } }).map((e) => e.name);
    expect(names).toContain('MAX_DAILY_LOSS');
    expect(names).not.toContain('MAX_POSITION_SIZE');
  });

  it.each(['1e3', '-5', '1,000', ''])('refuses %j, which is not a positive decimal', (value) => {
    expect(() => instance('lh', withSpec({ risk: { maxPositionSize: value } }))).toThrow(
      /maxPositionSize/,
    );
  });
});

describe('spec.resources', () => {
  it('takes quantities as a container does, integers and strings, and gives the pod strings', () => {
    const object = instance(
      'lh',
      withSpec({ resources: { requests: { cpu: 1, memory: '256Mi' }, limits: { cpu: '1500m' } } }),
    );
    expect(object.spec.resources).toEqual({
      requests: { cpu: '1', memory: '256Mi' },
      limits: { cpu: '1500m' },
    });
  });

  it.each([[{ requests: { memory: 'lots' } }], [{ limit: { cpu: '1' } }]])(
    'refuses %j',
    (resources) => {
      expect(() => instance('lh', withSpec({ resources }))).toThrow();
    },
  );
});
