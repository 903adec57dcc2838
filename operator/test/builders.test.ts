import { describe, expect, it } from 'vitest';
import { buildDeployment, CHECKSUM_ANNOTATION, imageTag } from '../src/builders/deployment.ts';
import { buildNetworkPolicy } from '../src/builders/network-policy.ts';
import {
  buildPodDisruptionBudget,
  wantsPodDisruptionBudget,
} from '../src/builders/pod-disruption-budget.ts';
import { buildCredentialsSecret, secretChecksum, secretValue } from '../src/builders/secret.ts';
import { buildPodsService, buildService } from '../src/builders/service.ts';
import { buildServiceMonitor } from '../src/builders/service-monitor.ts';
import { identityOf, instance, withInstanceName, withSpec } from './fixtures.ts';

const lh = instance('lh', withInstanceName('trading-system-engine-LH'));
const inputs = {
  identity: identityOf(lh),
  image: 'trading-engine:1.4.2',
  credentialsChecksum: 'abc',
};

describe('buildDeployment', () => {
  const deployment = buildDeployment(lh, inputs);
  const container = deployment.spec?.template.spec?.containers[0];
  const env = Object.fromEntries(
    (container?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.key]),
  );

  it('gives the same object for the same input', () => {
    expect(JSON.stringify(buildDeployment(lh, inputs))).toBe(JSON.stringify(deployment));
  });

  it('recreates pods instead of rolling them, so two engines never trade as one', () => {
    expect(deployment.spec?.strategy).toEqual({ type: 'Recreate' });
  });

  it("injects the identity under the adapter's variable names, URLs from the Secret", () => {
    expect(env).toMatchObject({
      SERVICE_NAME: 'trading-system-engine',
      SERVICE_INSTANCE_NAME: 'trading-system-engine-LH',
      POSTGRES_SCHEMA: 'trading_system_engine_lh',
      REDIS_NAMESPACE: 'trading_system:LH',
      ENVIRONMENT: 'kubernetes',
      LOG_LEVEL: 'info',
      VERSION: '1.4.2',
      HTTP_PORT: '8083',
      GRPC_PORT: '50053',
      POSTGRES_URL: 'POSTGRES_URL',
      REDIS_URL: 'REDIS_URL',
    });
    expect(
      container?.env?.find((e) => e.name === 'POSTGRES_URL')?.valueFrom?.secretKeyRef?.name,
    ).toBe('lh-credentials');
  });

  it("mounts the stores' CA bundles read-only when the Secret holds them, and names the Redis one", () => {
    expect(deployment.spec?.template.spec?.volumes).toBeUndefined();
    expect(container?.volumeMounts).toBeUndefined();
    expect(env.REDIS_CA_FILE).toBeUndefined();
    const withCas = buildDeployment(lh, { ...inputs, storeCas: { postgres: true, redis: true } });
    expect(withCas.spec?.template.spec?.volumes).toEqual([
      {
        name: 'store-cas',
        secret: {
          secretName: 'lh-credentials',
          items: [
            { key: 'postgres-ca.crt', path: 'postgres-ca.crt' },
            { key: 'redis-ca.crt', path: 'redis-ca.crt' },
          ],
          defaultMode: 0o444,
        },
      },
    ]);
    const engine = withCas.spec?.template.spec?.containers[0];
    expect(engine?.volumeMounts).toEqual([
      { name: 'store-cas', mountPath: '/var/run/secrets/trading.tse.io/tls', readOnly: true },
    ]);
    expect(engine?.env?.find((e) => e.name === 'REDIS_CA_FILE')?.value).toBe(
      '/var/run/secrets/trading.tse.io/tls/redis-ca.crt',
    );
  });

  it("keeps the operator's own labels out of the user's pod labels", () => {
    const object = instance(
      'l',
      withSpec({
        pod: {
          labels: { team: 'fx', 'trading.tse.io/role': 'active', 'trading.tse.io/other': 'x' },
        },
      }),
    );
    const labelled = buildDeployment(object, {
      identity: identityOf(object),
      image: 'engine:1',
      credentialsChecksum: 'x',
    });
    const labels = labelled.spec?.template.metadata?.labels;
    expect(labels?.team).toBe('fx');
    expect(labels?.['trading.tse.io/other']).toBeUndefined();
    // A user's `active` would route traffic to every pod: each is born standby instead.
    expect(labels?.['trading.tse.io/role']).toBe('standby');
  });

  it('probes liveness over HTTP on the management port and readiness through the standard gRPC health service', () => {
    expect(container?.livenessProbe?.httpGet).toEqual({
      path: '/api/v1/health/live',
      port: 'management',
    });
    expect(container?.startupProbe?.httpGet?.port).toBe('management');
    expect(container?.readinessProbe?.grpc).toEqual({ port: 50053, service: '' });
    expect(container?.ports?.map((p) => [p.name, p.containerPort])).toEqual([
      ['http', 8083],
      ['grpc', 50053],
      ['management', 8084],
    ]);
  });

  it('gives the engine its API tokens from the Secret', () => {
    expect(env).toMatchObject({
      API_TOKEN: 'api-token',
      API_READ_TOKEN: 'api-read-token',
      MANAGEMENT_PORT: '8084',
    });
  });

  it('rolls the pods when the credentials change', () => {
    expect(deployment.spec?.template.metadata?.annotations?.[CHECKSUM_ANNOTATION]).toBe('abc');
  });

  it('is owned by the instance and selects only its pods', () => {
    expect(deployment.metadata?.ownerReferences).toEqual([
      {
        apiVersion: 'trading.tse.io/v1alpha1',
        kind: 'TradingEngineInstance',
        name: 'lh',
        uid: 'uid-lh',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    expect(deployment.spec?.selector.matchLabels).toEqual({ 'trading.tse.io/instance': 'lh' });
  });

  it('passes the pod settings through', () => {
    const custom = buildDeployment(
      instance(
        'x',
        withSpec({
          replicas: 2,
          pod: { nodeSelector: { disk: 'ssd' }, labels: { team: 'mm' } },
          resources: { limits: { cpu: '1' } },
        }),
      ),
      inputs,
    );
    expect(custom.spec?.replicas).toBe(2);
    expect(custom.spec?.template.spec?.nodeSelector).toEqual({ disk: 'ssd' });
    expect(custom.spec?.template.metadata?.labels?.team).toBe('mm');
    expect(custom.spec?.template.spec?.containers[0]?.resources).toEqual({ limits: { cpu: '1' } });
  });
});

describe('imageTag', () => {
  it.each([
    ['trading-engine:1.2.3', '1.2.3'],
    ['registry.local:5000/trading-engine', 'latest'],
    ['registry.local:5000/trading-engine:2', '2'],
    ['trading-engine@sha256:abc', 'sha256:abc'],
  ])('reads %s as %s', (image, tag) => expect(imageTag(image)).toBe(tag));
});

describe('buildCredentialsSecret', () => {
  const secret = buildCredentialsSecret(
    lh,
    {
      host: 'pg.db',
      port: 5432,
      user: 'trading_system_engine_lh',
      password: 'p@ss/word',
      database: 'trading',
    },
    { host: 'redis.db', port: 6379, user: 'trading_system:LH', password: 'r:pw' },
    { trade: 'trade-token', read: 'read-token' },
  );

  it('holds URLs with the credentials escaped', () => {
    const postgres = new URL(secretValue(secret, 'POSTGRES_URL') ?? '');
    expect(decodeURIComponent(postgres.password)).toBe('p@ss/word');
    expect(postgres.pathname).toBe('/trading');
    const redis = new URL(secretValue(secret, 'REDIS_URL') ?? '');
    expect(decodeURIComponent(redis.username)).toBe('trading_system:LH');
    expect(decodeURIComponent(redis.password)).toBe('r:pw');
  });

  it("carries the admin connection's TLS into the URLs, with the CA bundles beside them", () => {
    const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    const tls = buildCredentialsSecret(
      lh,
      {
        host: 'pg.db',
        port: 5432,
        user: 'u',
        password: 'p',
        database: 'trading',
        tls: { mode: 'verify-full', ca },
      },
      { host: 'redis.db', port: 6380, user: 'r', password: 'q', tls: { mode: 'verify-full', ca } },
      { trade: 't', read: 'r' },
    );
    const postgres = new URL(secretValue(tls, 'POSTGRES_URL') ?? '');
    expect(Object.fromEntries(postgres.searchParams)).toEqual({
      sslmode: 'verify-full',
      sslrootcert: '/var/run/secrets/trading.tse.io/tls/postgres-ca.crt',
    });
    expect(secretValue(tls, 'REDIS_URL')).toMatch(/^rediss:\/\/r:q@redis\.db:6380$/);
    expect(secretValue(tls, 'postgres-ca.crt')).toBe(ca);
    expect(secretValue(tls, 'redis-ca.crt')).toBe(ca);
    // without TLS: plain URLs and no CA keys
    expect(new URL(secretValue(secret, 'POSTGRES_URL') ?? '').search).toBe('');
    expect(secretValue(secret, 'REDIS_URL')).toMatch(/^redis:\/\//);
    expect(Object.keys(secret.data ?? {})).not.toContain('postgres-ca.crt');
  });

  it('has a checksum that changes with its data only', () => {
    expect(secretChecksum(secret)).toBe(secretChecksum({ data: { ...secret.data } }));
    expect(secretChecksum(secret)).not.toBe(
      secretChecksum({ data: { ...secret.data, 'redis-password': 'eA==' } }),
    );
  });
});

describe('buildService and buildServiceMonitor', () => {
  it('send traffic to the active engine only, and reach every engine through the headless Service', () => {
    expect(buildService(lh).spec?.selector).toEqual({
      'trading.tse.io/instance': 'lh',
      'app.kubernetes.io/managed-by': 'trading-engine-operator',
      'trading.tse.io/role': 'active',
    });
    const pods = buildPodsService(lh);
    expect(pods.metadata?.name).toBe('lh-pods');
    expect(pods.spec).toMatchObject({
      clusterIP: 'None',
      selector: { 'trading.tse.io/instance': 'lh' },
    });
    expect(pods.metadata?.labels?.['trading.tse.io/service']).toBe('pods');
  });

  it('expose the trading API to clients, and scrape /metrics on the management port of every engine', () => {
    expect(buildService(lh).spec?.ports?.map((p) => [p.name, p.port])).toEqual([
      ['http', 8083],
      ['grpc', 50053],
    ]);
    expect(buildPodsService(lh).spec?.ports?.map((p) => [p.name, p.port])).toEqual([
      ['http', 8083],
      ['grpc', 50053],
      ['management', 8084],
    ]);
    const monitor = buildServiceMonitor(
      instance('m', withSpec({ monitoring: { serviceMonitor: { labels: { release: 'prom' } } } })),
    );
    expect(monitor.metadata?.labels?.release).toBe('prom');
    expect(monitor.spec).toMatchObject({
      selector: {
        matchLabels: { 'trading.tse.io/instance': 'm', 'trading.tse.io/service': 'pods' },
      },
    });
    expect(monitor.spec).toMatchObject({
      endpoints: [{ port: 'management', path: '/metrics', interval: '30s' }],
    });
  });
});

describe('buildNetworkPolicy', () => {
  it('admits no one to the trading ports and the monitoring namespace to the management port by default', () => {
    expect(buildNetworkPolicy(lh).spec).toEqual({
      podSelector: { matchLabels: { 'trading.tse.io/instance': 'lh' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
          ],
          ports: [{ protocol: 'TCP', port: 8084 }],
        },
      ],
    });
  });

  it('admits the named clients to the trading ports only', () => {
    const traders = [{ podSelector: { matchLabels: { app: 'trader' } } }];
    const policy = buildNetworkPolicy(
      instance('t', withSpec({ networkPolicy: { clients: traders, monitoring: [] } })),
    );
    expect(policy.spec.ingress).toEqual([
      {
        from: traders,
        ports: [
          { protocol: 'TCP', port: 8083 },
          { protocol: 'TCP', port: 50053 },
        ],
      },
    ]);
    expect(policy.metadata?.ownerReferences?.[0]?.controller).toBe(true);
  });
});

describe('buildPodDisruptionBudget', () => {
  it('lets a drain take one engine of an instance with standbys at a time', () => {
    const alpha = instance('alpha', withSpec({ replicas: 2 }));
    expect(wantsPodDisruptionBudget(alpha)).toBe(true);
    expect(wantsPodDisruptionBudget(instance('single'))).toBe(false);
    const budget = buildPodDisruptionBudget(alpha);
    expect(budget.metadata?.name).toBe('alpha');
    expect(budget.metadata?.ownerReferences?.[0]?.controller).toBe(true);
    expect(budget.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { 'trading.tse.io/instance': 'alpha' } },
    });
  });
});
