import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, type V1Secret, Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { convergedIn, type Recorded, record, seedRows } from '../support/faults.ts';
import { adminQuery, useDatabase } from '../support/fixtures.ts';
import { applyYaml, installCrd, type Kube, kube, teiManifest } from '../support/kube.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { kubeconfigThrough, Relay, serverOf } from '../support/relay.ts';

// Faults of the operator itself: killed over and over mid-reconcile, and a
// leader cut off from the API server while a standby waits.
const database = useDatabase();
const MANAGED = 'app.kubernetes.io/managed-by=trading-engine-operator';
// Short leases, so that the partition case takes seconds (the defaults are 15/10/2).
const TIMING = {
  LEASE_DURATION_SECONDS: '6',
  RENEW_DEADLINE_SECONDS: '4',
  RETRY_PERIOD_SECONDS: '1',
};
let k: Kube;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const newNamespace = async (prefix: string) => {
  const namespace = `${prefix}-${randomBytes(3).toString('hex')}`;
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  return namespace;
};
const apply = (namespace: string, specs: Record<string, Record<string, unknown>>) =>
  applyYaml(
    k,
    Object.entries(specs)
      .map(([name, spec]) => JSON.stringify(teiManifest(namespace, name, spec)))
      .join('\n---\n'),
  );
const env = (namespace: string) => ({
  KUBECONFIG: inject('kubeconfig'),
  POSTGRES_ADMIN_URL: database.url,
  REDIS_ADMIN_URL: inject('redisUrl'),
  WATCH_NAMESPACES: namespace,
  LEADER_ELECTION: 'true',
  LEASE_NAMESPACE: namespace,
  ...TIMING,
});
/** When (ms since the epoch) a log line was written. */
const at = (line: Record<string, unknown>) => new Date(line.time as string | number).getTime();
const logged = (operator: OperatorProcess, msg: string) => {
  const line = operator.logs().find((entry) => entry.msg === msg);
  return line && { ...line, time: at(line) };
};

beforeAll(async () => {
  k = kube(inject('kubeconfig'));
  await installCrd(k);
});

describe('the operator SIGKILLed 20 times mid-reconcile', () => {
  it('converges after the last restart with the first passwords and one of each object', async () => {
    const namespace = await newNamespace('kills');
    const names = Array.from({ length: 10 }, (_, i) => `killed-${i}`);
    // Every version of every credentials Secret, watched from the side: the first password an
    // instance gets is the one it must keep, through every kill.
    const versions = new Map<string, V1Secret[]>();
    const watching = await new Watch(k.kc).watch(
      `/api/v1/namespaces/${namespace}/secrets`,
      { labelSelector: MANAGED },
      (phase, secret: V1Secret) => {
        const name = String(secret.metadata?.name);
        versions.set(name, [...(versions.get(name) ?? []), { ...secret, kind: phase }]);
      },
      () => {},
    );
    const replicas: Record<string, number> = {};
    let running: OperatorProcess | undefined;
    let reconciled = 0;
    try {
      for (let kill = 0; kill < 20; kill++) {
        running = await startOperatorProcess({ ...env(namespace), POD_NAME: 'operator-0' });
        const current = running;
        if (kill === 0) await apply(namespace, Object.fromEntries(names.map((n) => [n, {}])));
        else if (kill % 3 === 0) {
          // Changes keep arriving between the kills: a scale of one instance or another.
          const name = names[kill % names.length] as string;
          replicas[name] = (replicas[name] ?? 1) === 1 ? 2 : 1;
          await apply(namespace, { [name]: { replicas: replicas[name] } });
        }
        await waitFor(
          'the restarted operator to lead and reconcile',
          async () => (logged(current, 'caches synced; reconciling') ? true : undefined),
          { timeoutMs: 30_000, process: current.process },
        );
        // A random point of the reconciles that follow.
        await sleep(Math.random() * 1_200);
        reconciled += await current.reconciles();
        await current.kill('SIGKILL');
      }
      running = await startOperatorProcess({ ...env(namespace), POD_NAME: 'operator-0' });
      const restarted = Date.now();
      const took = await convergedIn(k, namespace, names, restarted, 120_000);
      console.log(
        `20 SIGKILLs (${reconciled} reconciles completed between them): converged ${seconds(took)} after the last restart`,
      );
      for (const [name, count] of Object.entries(replicas)) {
        const deployment = await k.apps.readNamespacedDeployment({ namespace, name });
        expect(deployment.spec?.replicas).toBe(count);
      }
      const selector = { namespace, labelSelector: MANAGED };
      const deployments = (await k.apps.listNamespacedDeployment(selector)).items;
      const secrets = (await k.core.listNamespacedSecret(selector)).items;
      const services = (await k.core.listNamespacedService(selector)).items;
      expect(deployments.map((d) => d.metadata?.name).sort()).toEqual([...names].sort());
      expect(secrets).toHaveLength(names.length);
      // The active engine's Service and the headless one, each once.
      expect(services).toHaveLength(names.length * 2);
      // No password churn: one Secret each, never recreated, its data never changed.
      for (const secret of secrets) {
        const seen = versions.get(String(secret.metadata?.name)) ?? [];
        expect(seen.map((v) => v.metadata?.uid)).toEqual(seen.map(() => secret.metadata?.uid));
        expect(seen.map((v) => v.data)).toEqual(seen.map(() => secret.data));
        expect(seen.some((v) => v.kind === 'DELETED')).toBe(false);
      }
      const roles = await adminQuery(
        database.url,
        'select count(*)::int as n from pg_roles where rolname = any($1)',
        [names.map((n) => n.replaceAll('-', '_'))],
      );
      expect(roles.rows[0]?.n).toBe(names.length);
    } finally {
      watching.abort();
      await running?.kill('SIGTERM');
    }
  });
});

describe('a leader partitioned from the API server', () => {
  let relay: Relay;
  afterAll(() => relay?.close());

  it('stops acting at its renew deadline; the standby takes over only after the lease expired', async () => {
    const namespace = await newNamespace('partition');
    relay = new Relay(await freePort(), serverOf(inject('kubeconfig')));
    await relay.open();
    const dir = mkdtempSync(join(tmpdir(), 'faults-operator-'));
    const throughRelay = kubeconfigThrough(
      inject('kubeconfig'),
      relay.port,
      join(dir, 'a.kubeconfig'),
    );
    const a = await startOperatorProcess({
      ...env(namespace),
      KUBECONFIG: throughRelay,
      POD_NAME: 'replica-a',
    });
    const aExit = new Promise<number>((resolve) =>
      a.process.child.once('exit', () => resolve(Date.now())),
    );
    await waitFor('a to lead', async () => (logged(a, 'became leader') ? true : undefined));
    const b = await startOperatorProcess({ ...env(namespace), POD_NAME: 'replica-b' });
    const lease = k.kc.makeApiClient(CoordinationV1Api);
    const timeline: { at: number; holder: string; renewed: string }[] = [];
    let watchingLease = true;
    const leasePoller = (async () => {
      while (watchingLease) {
        const spec = (
          await lease.readNamespacedLease({ namespace, name: 'trading-engine-operator' })
        ).spec;
        const holder = spec?.holderIdentity ?? '';
        const renewed = String(spec?.renewTime ?? '');
        const last = timeline.at(-1);
        if (!last || last.holder !== holder || last.renewed !== renewed)
          timeline.push({ at: Date.now(), holder, renewed });
        await sleep(100);
      }
    })();
    try {
      const names = ['kept-0', 'kept-1'];
      await apply(namespace, Object.fromEntries(names.map((n) => [n, {}])));
      await convergedIn(k, namespace, names, Date.now());
      await seedRows(k, database.url, namespace, names);
      const before: Recorded = await record(k, database.url, namespace, names);

      await relay.close();
      const cut = Date.now();
      // A change while nobody can act on it: the standby does, once it leads.
      await apply(namespace, { 'during-partition': {} });
      await waitFor('b to take over', async () => (logged(b, 'became leader') ? true : undefined), {
        timeoutMs: 40_000,
      });
      await waitFor('the lease to name b', async () =>
        timeline.some((t) => t.holder === 'replica-b') ? true : undefined,
      );
      // Bounded: a leader that never stops is the failure this test exists for, said as such.
      const leaseMs = Number(TIMING.LEASE_DURATION_SECONDS) * 1000;
      let bound: NodeJS.Timeout | undefined;
      const aExited = await Promise.race([
        aExit,
        new Promise<undefined>((resolve) => {
          bound = setTimeout(() => resolve(undefined), leaseMs);
        }),
      ]);
      clearTimeout(bound);
      if (aExited === undefined)
        throw new Error(
          `the partitioned leader still runs after the standby took over; its last log lines: ${a
            .logs()
            .slice(-5)
            .map((line) => line.msg)
            .join(' | ')}`,
        );
      const aLost = logged(a, 'lost leadership')?.time;
      const bLeads = logged(b, 'became leader')?.time as number;
      const lastRenewByA = Math.max(
        ...timeline.filter((t) => t.holder === 'replica-a').map((t) => t.at),
      );
      const firstByB = Math.min(
        ...timeline.filter((t) => t.holder === 'replica-b').map((t) => t.at),
      );
      console.log(
        `partitioned leader: lost leadership ${seconds((aLost as number) - cut)} after the cut and exited at ${seconds(aExited - cut)}; the standby led at ${seconds(bLeads - cut)} (${seconds(bLeads - lastRenewByA)} after the last renewal it saw); lease timeline: ${timeline
          .filter((t) => t.at >= cut - 2_000)
          .map((t) => `${seconds(t.at - cut)} ${t.holder || '(none)'}`)
          .join(', ')}`,
      );
      // Never two leaders acting: the old one had stopped (and exited) before the new one led.
      expect(aLost).toBeDefined();
      expect(aLost).toBeLessThan(bLeads);
      expect(aExited).toBeLessThan(bLeads);
      expect(a.process.child.exitCode).not.toBe(0);
      // The standby waited out the lease by its own clock, from the last renewal it observed.
      expect(bLeads - lastRenewByA).toBeGreaterThanOrEqual(
        Number(TIMING.LEASE_DURATION_SECONDS) * 1000 - 1_000,
      );
      // The lease went from a to b, never back.
      const holders = timeline.map((t) => t.holder).filter((h, i, all) => h !== all[i - 1]);
      expect(holders).toEqual(['replica-a', 'replica-b']);
      expect(firstByB).toBeGreaterThan(lastRenewByA);
      // a did nothing once it had lost: its last log lines are the loss and its exit (a cache
      // reporting its cut watch, which it still may while exiting, is not acting).
      const afterLoss = a
        .logs()
        .filter((line) => at(line) >= (aLost as number))
        .filter((line) => line.msg !== 'watch failed; restarting');
      console.log(
        `partitioned leader's last log lines: ${afterLoss.map((l) => l.msg).join(' | ')}`,
      );
      expect(new Set(afterLoss.map((line) => line.msg))).toEqual(
        new Set(['lost leadership', 'exiting']),
      );

      const converged = await convergedIn(k, namespace, ['during-partition', ...names], cut);
      console.log(
        `partitioned leader: the change made during the partition converged ${seconds(converged)} after the cut`,
      );
      expect(await record(k, database.url, namespace, names)).toEqual(before);
    } finally {
      watchingLease = false;
      await leasePoller.catch(() => {});
      await Promise.allSettled([a.kill('SIGTERM'), b.kill('SIGTERM')]);
    }
  });
});
