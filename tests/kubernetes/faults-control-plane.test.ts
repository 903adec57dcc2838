import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Cluster, startCluster } from '../cluster/control-plane.ts';
import { convergedIn, createInstance, type Recorded, record, seedRows } from '../support/faults.ts';
import { useDatabase } from '../support/fixtures.ts';
import { installCrd, type Kube, kube } from '../support/kube.ts';
import { type OperatorProcess, startOperatorProcess } from '../support/operator-process.ts';
import { freePort, waitFor } from '../support/processes.ts';
import { kubeconfigThrough, Relay } from '../support/relay.ts';

// Faults of the control plane under a running operator, on a control plane of
// this file's own (it restarts its API server and etcd): after each, the
// operator converges again (it acts on a change made after, or during, the
// fault) and nothing is lost: same passwords, same rows, same objects, and no
// write to them beyond what the fault made necessary. The operator reaches the
// API server through a relay, so that its connections can be cut.
const database = useDatabase();
const namespace = 'faults';
const names = ['alpha', 'beta', 'gamma'];
let cluster: Cluster;
let k: Kube;
let relay: Relay;
let operator: OperatorProcess;
let before: Recorded;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const now = () => Date.now();

/** What is recorded now, but for the objects a case changed on purpose. */
const recordExcept = async (changed: string[] = []) => {
  const current = await record(k, database.url, namespace, names);
  const expected = structuredClone(before);
  for (const key of changed) {
    delete current.uids[key];
    delete current.writes[key];
    delete expected.uids[key];
    delete expected.writes[key];
  }
  return { current, expected };
};

/** One of the Services the instance owns. */
const ownedService = async (name: string) => {
  const services = await k.core.listNamespacedService({
    namespace,
    labelSelector: 'app.kubernetes.io/managed-by=trading-engine-operator',
  });
  const instance = (await k.custom.getNamespacedCustomObject({
    group: 'trading.tse.io',
    version: 'v1alpha1',
    plural: 'tradingengineinstances',
    namespace,
    name,
  })) as { metadata: { uid: string } };
  const service = services.items.find((s) =>
    s.metadata?.ownerReferences?.some((owner) => owner.uid === instance.metadata.uid),
  );
  if (!service?.metadata?.name) throw new Error(`${name} owns no Service`);
  return { name: service.metadata.name, uid: String(service.metadata.uid) };
};

/** Waits until a deleted Service is there again with a new uid; returns when it was. */
const serviceBack = (service: { name: string; uid: string }) =>
  waitFor(
    `Service ${service.name} to be recreated`,
    async () => {
      const found = await k.core.readNamespacedService({ namespace, name: service.name });
      return found.metadata?.uid !== service.uid ? now() : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 50 },
  );

/** A new instance made once the fault is over, converged: the operator watches again. */
const probe = async (name: string, since: number) => {
  await waitFor(
    `${name} to be created`,
    () => createInstance(k, namespace, name).then(() => true),
    {
      timeoutMs: 60_000,
      intervalMs: 200,
    },
  );
  return convergedIn(k, namespace, [name], since);
};

const expectNothingLost = async (changed: string[] = []) => {
  await convergedIn(k, namespace, names, now());
  const { current, expected } = await recordExcept(changed);
  expect(current).toEqual(expected);
  // The next case compares with what this one left (the objects it changed on purpose included).
  before = await record(k, database.url, namespace, names);
  // The operator rode the fault out: it did not exit (a restart would hide what it does).
  expect(operator.process.child.exitCode).toBeNull();
};

beforeAll(async () => {
  cluster = await startCluster({ nodes: 1 });
  k = kube(cluster.kubeconfig);
  await installCrd(k);
  await k.core.createNamespace({ body: { metadata: { name: namespace } } });
  relay = new Relay(await freePort(), cluster.server);
  await relay.open();
  const dir = mkdtempSync(join(tmpdir(), 'faults-control-plane-'));
  operator = await startOperatorProcess({
    KUBECONFIG: kubeconfigThrough(cluster.kubeconfig, relay.port, join(dir, 'relay.kubeconfig')),
    POSTGRES_ADMIN_URL: database.url,
    REDIS_ADMIN_URL: inject('redisUrl'),
    WATCH_NAMESPACES: namespace,
    LEADER_ELECTION: 'true',
    LEASE_NAMESPACE: namespace,
    POD_NAME: 'faults-operator',
    // A lease that outlives the cuts below: this file is about watches, not handover.
    LEASE_DURATION_SECONDS: '40',
    RENEW_DEADLINE_SECONDS: '30',
  });
  for (const name of names) await createInstance(k, namespace, name);
  await convergedIn(k, namespace, names, now());
  await seedRows(k, database.url, namespace, names);
  before = await record(k, database.url, namespace, names);
  expect(Object.keys(before.passwords)).toHaveLength(names.length);
});

afterAll(async () => {
  await operator?.kill('SIGTERM');
  await relay?.close();
  await cluster?.stop();
});

describe('a control plane fault under a running operator', () => {
  it.each([
    ['kube-apiserver', 'after-apiserver'],
    ['etcd', 'after-etcd'],
  ])('%s restarted: the operator watches again and loses nothing', async (component, probeName) => {
    const stopped = now();
    await cluster.restart(component, { downMs: 2_000 });
    const healthy = now();
    const converged = await probe(probeName, healthy);
    console.log(
      `${component} restart: down ${seconds(healthy - stopped)}; a new instance converged ${seconds(converged)} after it was back`,
    );
    await expectNothingLost();
  });

  it("the operator's connections cut: a Service deleted meanwhile is recreated once they are back", async () => {
    const service = await ownedService('alpha');
    await relay.close();
    const cut = now();
    await k.core.deleteNamespacedService({ namespace, name: service.name });
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    await relay.open();
    const reopened = now();
    const back = await serviceBack(service);
    console.log(
      `watch connections cut for ${seconds(reopened - cut)}: the Service deleted meanwhile was back ${seconds(back - reopened)} after they could reconnect`,
    );
    await expectNothingLost([`Service/${service.name}`]);
  });

  it('a watch resumed from a resourceVersion the API server no longer has (410 Gone) relists', async () => {
    const service = await ownedService('beta');
    await relay.close();
    const cut = now();
    // The operator has seen nothing after this resourceVersion.
    const seen = (await k.core.listNamespacedService({ namespace })).metadata
      ?.resourceVersion as string;
    await k.core.deleteNamespacedService({ namespace, name: service.name });
    // A restarted API server's watch cache starts at the current revision: older ones are gone.
    await cluster.restart('kube-apiserver');
    const status = await watchStatus(`/api/v1/namespaces/${namespace}/services`, seen);
    expect(status).toBe(410);
    await relay.open();
    const reopened = now();
    const back = await serviceBack(service);
    console.log(
      `410 Gone: a watch from before the API server restart is refused; the operator relisted and recreated the Service deleted meanwhile ${seconds(back - reopened)} after it could reconnect (cut ${seconds(reopened - cut)})`,
    );
    await expectNothingLost([`Service/${service.name}`]);
  });
});

/** The status a watch from `resourceVersion` gets: 410 when that revision is gone, 200 when it is served. */
async function watchStatus(path: string, resourceVersion: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (status: number) => {
      if (settled) return;
      settled = true;
      resolve(status);
      void request.then((controller) => controller.abort());
    };
    const request = new Watch(k.kc).watch(
      path,
      { resourceVersion },
      (phase, object) => {
        const code = (object as { code?: number }).code;
        settle(phase === 'ERROR' && code ? code : 200);
      },
      (error) => {
        const code = (error as { statusCode?: number; code?: number } | null)?.statusCode;
        if (code) settle(code);
        else if (!settled) reject(error ?? new Error('watch ended without an event'));
      },
    );
    request.catch(reject);
    setTimeout(() => settle(200), 5_000);
  });
}
