import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

interface Instance {
  metadata: { name: string; namespace: string };
  status?: {
    conditions?: Condition[];
    identity?: { instanceName?: string; postgresSchema?: string; redisNamespace?: string };
  };
}

/** One line of `tse status`. */
export interface StatusRow {
  namespace: string;
  name: string;
  instance: string;
  schema: string;
  redisNamespace: string;
  ready: string;
  why: string;
}

/** Reads the instances (of one namespace, or all) and says for each whether it is Ready and why not. */
export async function instanceStatus(kc: KubeConfig, namespace?: string): Promise<StatusRow[]> {
  const api = kc.makeApiClient(CustomObjectsApi);
  const base = { group: 'trading.tse.io', version: 'v1alpha1', plural: 'tradingengineinstances' };
  const list = (
    namespace
      ? await api.listNamespacedCustomObject({ ...base, namespace })
      : await api.listClusterCustomObject(base)
  ) as { items: Instance[] };
  return list.items
    .map((item) => {
      const ready = item.status?.conditions?.find((condition) => condition.type === 'Ready');
      const identity = item.status?.identity ?? {};
      return {
        namespace: item.metadata.namespace,
        name: item.metadata.name,
        instance: identity.instanceName ?? '',
        schema: identity.postgresSchema ?? '',
        redisNamespace: identity.redisNamespace ?? '',
        ready: ready?.status ?? 'Unknown',
        why:
          ready?.status === 'True'
            ? ''
            : ready
              ? `${ready.reason}: ${ready.message}`
              : 'not reconciled yet',
      };
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

/** Rows as an aligned text table with a header. */
export function formatTable(rows: StatusRow[]): string {
  const header: StatusRow = {
    namespace: 'NAMESPACE',
    name: 'NAME',
    instance: 'INSTANCE',
    schema: 'SCHEMA',
    redisNamespace: 'REDIS NAMESPACE',
    ready: 'READY',
    why: 'WHY NOT',
  };
  const columns = Object.keys(header) as (keyof StatusRow)[];
  const all = [header, ...rows];
  const widths = columns.map((column) => Math.max(...all.map((row) => row[column].length)));
  return all
    .map((row) =>
      columns
        .map((column, i) => row[column].padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
