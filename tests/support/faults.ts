import type { KubernetesObject } from '@kubernetes/client-node';
import { converged } from './converged.ts';
import { adminQuery } from './fixtures.ts';
import { getInstance, type Kube, TEI } from './kube.ts';
import { waitFor } from './processes.ts';

/**
 * What a fault must not lose, per instance: the passwords in its Secrets, the
 * uid of every object it owns (none recreated, none duplicated), the rows in
 * its schema, and how often the operator wrote its objects (Secret and Service
 * resourceVersions, Deployment generations: no write beyond what is expected).
 */
export interface Recorded {
  passwords: Record<string, Record<string, string> | undefined>;
  uids: Record<string, string[]>;
  writes: Record<string, string>;
  rows: Record<string, unknown[]>;
}

const MANAGED = 'app.kubernetes.io/managed-by=trading-engine-operator';
const TABLE = 'fault_rows';

/** The schema an instance's tenant owns. */
export async function schemaOf(k: Kube, namespace: string, name: string): Promise<string> {
  const instance = await getInstance(k, namespace, name);
  const schema = instance.status?.identity?.postgresSchema;
  if (!schema) throw new Error(`${namespace}/${name} has no schema in its status yet`);
  return schema;
}

/** Inserts a tenant's row into a table of its schema, as the engine would hold its data there. */
export async function seedRows(
  k: Kube,
  postgresUrl: string,
  namespace: string,
  names: string[],
): Promise<void> {
  for (const name of names) {
    const schema = await schemaOf(k, namespace, name);
    await adminQuery(
      postgresUrl,
      `create table if not exists "${schema}".${TABLE} (id serial primary key, note text not null)`,
    );
    await adminQuery(postgresUrl, `insert into "${schema}".${TABLE} (note) values ($1)`, [
      `${name} before the fault`,
    ]);
  }
}

/** Records passwords, owned objects, write counters and rows of the instances `names`. */
export async function record(
  k: Kube,
  postgresUrl: string,
  namespace: string,
  names: string[],
): Promise<Recorded> {
  const selector = { namespace, labelSelector: MANAGED };
  const [deployments, services, secrets] = await Promise.all([
    k.apps.listNamespacedDeployment(selector),
    k.core.listNamespacedService(selector),
    k.core.listNamespacedSecret(selector),
  ]);
  const recorded: Recorded = { passwords: {}, uids: {}, writes: {}, rows: {} };
  for (const name of names) {
    const instance = await getInstance(k, namespace, name);
    const owned = (object: KubernetesObject) =>
      object.metadata?.ownerReferences?.some((owner) => owner.uid === instance.metadata.uid);
    const add = (kind: string, objects: KubernetesObject[], counter: (o: never) => string) => {
      for (const object of objects.filter(owned)) {
        const key = `${kind}/${object.metadata?.name}`;
        recorded.uids[key] = [...(recorded.uids[key] ?? []), String(object.metadata?.uid)];
        recorded.writes[key] = counter(object as never);
      }
    };
    add('Deployment', deployments.items, (d: { metadata?: { generation?: number } }) =>
      String(d.metadata?.generation),
    );
    add('Service', services.items, (s: KubernetesObject) => String(s.metadata?.resourceVersion));
    add('Secret', secrets.items, (s: KubernetesObject) => String(s.metadata?.resourceVersion));
    for (const secret of secrets.items.filter(owned))
      recorded.passwords[String(secret.metadata?.name)] = secret.data;
    const schema = await schemaOf(k, namespace, name);
    recorded.rows[name] = (
      await adminQuery(postgresUrl, `select id, note from "${schema}".${TABLE} order by id`)
    ).rows;
  }
  return recorded;
}

/** Creates an instance through the API (any cluster, not only the shared one). */
export async function createInstance(
  k: Kube,
  namespace: string,
  name: string,
  spec: Record<string, unknown> = {},
): Promise<void> {
  await k.custom.createNamespacedCustomObject({
    ...TEI,
    namespace,
    body: {
      apiVersion: `${TEI.group}/${TEI.version}`,
      kind: 'TradingEngineInstance',
      metadata: { name, namespace },
      spec,
    },
  });
}

/** Waits until every instance is converged (Ready, or provisioned on KWOK); returns how long since `since`. */
export async function convergedIn(
  k: Kube,
  namespace: string,
  names: string[],
  since: number,
  timeoutMs = 90_000,
): Promise<number> {
  await Promise.all(
    names.map((name) =>
      waitFor(
        `${namespace}/${name} to converge`,
        async () => {
          const instance = await getInstance(k, namespace, name);
          return instance.status?.observedGeneration === instance.metadata.generation &&
            converged(instance.status?.conditions)
            ? true
            : undefined;
        },
        { timeoutMs, intervalMs: 100 },
      ),
    ),
  );
  return Date.now() - since;
}
