import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import {
  deriveIdentity,
  generatePassword,
  PostgresProvisioner,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
} from '@tse/adapter';
import {
  buildCredentialsSecret,
  buildDeployment,
  buildService,
  secretChecksum,
  tradingEngineInstance,
} from '@tse/operator';
import { Redis } from 'ioredis';
import { startCluster } from '../cluster/control-plane.ts';
import { converged } from '../support/converged.ts';
import { aclSetuserCount, apiserverWrites, ddlCount } from '../support/counters.ts';
import { adminQuery, withDatabase } from '../support/fixtures.ts';
import { startOperatorProcess } from '../support/operator-process.ts';
import { providePostgres, provideRedis } from '../support/stores.ts';
import { printTable, progress, round, timed } from './report.ts';

const TEI = {
  group: 'trading.tse.io',
  version: 'v1alpha1',
  plural: 'tradingengineinstances',
} as const;
/**
 * What one instance needs at the least: its finalizer, Secret, Deployment and
 * Service, and two status writes (provisioned and waiting for pods; Ready).
 */
const MINIMUM_WRITES = 6;

/**
 * N instances applied at once until all are Ready, against a plain script
 * reaching the same end state with the same client library and concurrency;
 * then a quiet period in which a converged cluster should see no writes.
 */
export async function operatorConvergenceBench(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: {
      instances: { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '8' },
      quiet: { type: 'string', default: '60' },
    },
  });
  const count = Number(values.instances);
  const concurrency = Number(values.concurrency);
  console.error(
    `starting the control plane (${Math.max(3, Math.ceil(count / 200))} KWOK nodes), PostgreSQL and Redis`,
  );
  const [cluster, postgres, redis] = await Promise.all([
    startCluster({ nodes: Math.max(3, Math.ceil(count / 200)) }),
    providePostgres(),
    provideRedis(),
  ]);
  const kubectl = (args: string[], input?: string) =>
    spawnSync(
      cluster.binaries?.kubectl ?? 'kubectl',
      ['--kubeconfig', cluster.kubeconfig, ...args],
      { input, encoding: 'utf8', maxBuffer: 256 << 20 },
    );
  try {
    await adminQuery(postgres.url, 'create database bench');
    await adminQuery(
      withDatabase(postgres.url, 'bench'),
      'create extension if not exists pg_stat_statements',
    );
    const adminUrl = withDatabase(postgres.url, 'bench');
    kubectl(['apply', '--server-side', '-f', new URL('../../crds/', import.meta.url).pathname]);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const custom = kc.makeApiClient(CustomObjectsApi);
    for (const namespace of ['bench-operator', 'bench-baseline'])
      await core.createNamespace({ body: { metadata: { name: namespace } } });
    await new Promise((resolve) => setTimeout(resolve, 2000));

    const writes = () =>
      apiserverWrites(cluster.binaries?.kubectl ?? 'kubectl', cluster.kubeconfig, {
        operatorOnly: true,
      });
    const names = (prefix: string) =>
      Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(4, '0')}`);
    const pool = async <T>(items: T[], work: (item: T) => Promise<void>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < items.length) await work(items[next++] as T);
        }),
      );
    };
    const readyCount = async (namespace: string) => {
      const list = (await custom.listNamespacedCustomObject({ ...TEI, namespace })) as {
        items: { status?: { conditions?: { type: string; status: string }[] } }[];
      };
      return list.items.filter((item) => converged(item.status?.conditions)).length;
    };
    const untilReady = async (namespace: string, label: string) => {
      const bar = progress(label, count);
      let seen = 0;
      for (;;) {
        const ready = await readyCount(namespace);
        while (seen < ready) {
          bar.tick();
          seen++;
        }
        if (ready >= count) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      bar.done();
    };

    // The operator.
    const operator = await startOperatorProcess({
      KUBECONFIG: cluster.kubeconfig,
      POSTGRES_ADMIN_URL: adminUrl,
      REDIS_ADMIN_URL: redis.url,
      WATCH_NAMESPACES: 'bench-operator',
      LEADER_ELECTION: 'false',
      MAX_CONCURRENT_RECONCILES: String(concurrency),
      LOG_LEVEL: 'warn',
    });
    const rssMb = () =>
      Number(
        /VmRSS:\s+(\d+)/.exec(
          readFileSync(`/proc/${operator.process.child.pid}/status`, 'utf8'),
        )?.[1] ?? 0,
      ) / 1024;
    const idleRss = rssMb();
    const writesBefore = writes();
    const reconcilesBefore = await operator.reconciles();
    const operatorRun = await timed(async () => {
      await pool(names('op'), async (name) => {
        await custom.createNamespacedCustomObject({
          ...TEI,
          namespace: 'bench-operator',
          body: {
            apiVersion: 'trading.tse.io/v1alpha1',
            kind: 'TradingEngineInstance',
            metadata: { name },
            spec: {},
          },
        });
      });
      await untilReady('bench-operator', 'operator: Ready');
    });
    const operatorWrites = writes() - writesBefore;
    const reconciles = (await operator.reconciles()) - reconcilesBefore;
    const convergedRss = rssMb();

    // The baseline: the same end state from a plain script, same client, same concurrency.
    const objects = KubernetesObjectApi.makeApiClient(kc);
    const apps = kc.makeApiClient(AppsV1Api);
    const pgAdmin = new PostgresProvisioner(adminUrl, { max: concurrency });
    const redisAdmin = new RedisProvisioner(redis.url);
    const database = await pgAdmin.database();
    const baseline = await timed(async () => {
      await pool(names('base'), async (name) => {
        const created = await custom.createNamespacedCustomObject({
          ...TEI,
          namespace: 'bench-baseline',
          body: {
            apiVersion: 'trading.tse.io/v1alpha1',
            kind: 'TradingEngineInstance',
            metadata: { name, finalizers: ['trading.tse.io/finalizer'] },
            spec: {},
          },
        });
        const instance = tradingEngineInstance.parse(created);
        const identity = deriveIdentity({ instanceName: name });
        const [pgPassword, redisPassword] = [generatePassword(), generatePassword()];
        const postgresUrl = new URL(adminUrl);
        const redisUrl = new URL(redis.url);
        const secret = buildCredentialsSecret(
          instance,
          {
            host: postgresUrl.hostname,
            port: Number(postgresUrl.port),
            user: identity.postgresSchema,
            password: pgPassword,
            database,
          },
          {
            host: redisUrl.hostname,
            port: Number(redisUrl.port),
            user: identity.redisNamespace,
            password: redisPassword,
          },
          { trade: generatePassword(), read: generatePassword() },
        );
        await objects.patch(
          secret,
          undefined,
          undefined,
          'baseline',
          true,
          PatchStrategy.ServerSideApply,
        );
        await pgAdmin.ensure(postgresTenant(identity, { password: pgPassword, database }));
        await redisAdmin.ensure(redisTenant(identity, { password: redisPassword }));
        await objects.patch(
          buildDeployment(instance, {
            identity,
            image: 'trading-engine:0.1.0',
            credentialsChecksum: secretChecksum(secret),
          }),
          undefined,
          undefined,
          'baseline',
          true,
          PatchStrategy.ServerSideApply,
        );
        await objects.patch(
          buildService(instance),
          undefined,
          undefined,
          'baseline',
          true,
          PatchStrategy.ServerSideApply,
        );
        for (;;) {
          const deployment = await apps.readNamespacedDeployment({
            namespace: 'bench-baseline',
            name,
          });
          if (
            deployment.status?.conditions?.some(
              (c) => c.type === 'Available' && c.status === 'True',
            )
          )
            break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        await custom.patchNamespacedCustomObjectStatus(
          {
            ...TEI,
            namespace: 'bench-baseline',
            name,
            body: {
              status: {
                identity,
                conditions: [
                  {
                    type: 'Ready',
                    status: 'True',
                    reason: 'Ready',
                    message: 'baseline',
                    lastTransitionTime: new Date().toISOString(),
                  },
                ],
              },
            },
          },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      });
    });
    await pgAdmin.close();
    await redisAdmin.close();

    // The quiet period: resyncs run, nothing should be written.
    const quietSeconds = Number(values.quiet);
    const redisClient = new Redis(redis.url);
    const ddl = () => ddlCount(adminUrl);
    const acl = () => aclSetuserCount(redisClient);
    const idleBefore = { writes: writes(), ddl: await ddl(), acl: await acl() };
    console.error(`quiet period: ${quietSeconds}s`);
    await new Promise((resolve) => setTimeout(resolve, quietSeconds * 1000));
    const idle = {
      writes: writes() - idleBefore.writes,
      ddl: (await ddl()) - idleBefore.ddl,
      acl: (await acl()) - idleBefore.acl,
    };
    redisClient.disconnect();
    const finalRss = rssMb();
    await operator.kill('SIGTERM');

    printTable(`${count} instances, concurrency ${concurrency}`, [
      {
        run: 'operator: apply to all Ready',
        seconds: round(operatorRun.seconds),
        per_instance_ms: round((operatorRun.seconds / count) * 1000),
      },
      {
        run: 'plain script: same end state',
        seconds: round(baseline.seconds),
        per_instance_ms: round((baseline.seconds / count) * 1000),
      },
    ]);
    printTable('operator cost', [
      { figure: 'reconciles per instance', value: round(reconciles / count) },
      {
        figure: `writes per instance (minimum ${MINIMUM_WRITES})`,
        value: round(operatorWrites / count),
      },
      {
        figure: `idle writes / DDL / ACL SETUSER in ${quietSeconds}s`,
        value: `${idle.writes} / ${idle.ddl} / ${idle.acl}`,
      },
      {
        figure: 'operator RSS MB: idle / converged / after quiet',
        value: `${round(idleRss)} / ${round(convergedRss)} / ${round(finalRss)}`,
      },
    ]);
    return {
      instances: count,
      seconds: round(operatorRun.seconds),
      baseline_seconds: round(baseline.seconds),
      ratio: round(operatorRun.seconds / baseline.seconds),
      reconciles_per_instance: round(reconciles / count),
      writes_per_instance: round(operatorWrites / count),
      writes_per_instance_minimum: MINIMUM_WRITES,
      idle_writes: idle.writes,
      idle_ddl: idle.ddl,
      idle_acl_setuser: idle.acl,
      rss_mb: round(Math.max(convergedRss, finalRss)),
      rss_mb_idle: round(idleRss),
    };
  } catch (error) {
    console.error('operator-convergence failed:', error);
    throw error;
  } finally {
    await Promise.allSettled([cluster.stop(), postgres.stop(), redis.stop()]);
  }
}
