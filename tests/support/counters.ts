import { execFileSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { adminQuery } from './fixtures.ts';

const OWNED = new Set([
  'deployments',
  'services',
  'secrets',
  'networkpolicies',
  'tradingengineinstances',
  'servicemonitors',
  'poddisruptionbudgets',
]);
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

/**
 * Mutating requests on the operator's kinds, from the API server's own
 * metrics. `operatorOnly` leaves out Deployment status, which
 * kube-controller-manager writes, and counts the role labels the operator
 * patches onto pods.
 */
export function apiserverWrites(
  kubectl: string,
  kubeconfig: string,
  { operatorOnly = false } = {},
): number {
  let total = 0;
  for (const count of apiserverWritesByKind(kubectl, kubeconfig, { operatorOnly }).values())
    total += count;
  return total;
}

/**
 * The same requests by resource (`/subresource`) and verb, say
 * `tradingengineinstances/status APPLY`. With `operatorOnly`, the patches of
 * pods themselves are in: only the operator sends those (its role labels);
 * the kubelet writes a pod's status, the scheduler its binding.
 */
export function apiserverWritesByKind(
  kubectl: string,
  kubeconfig: string,
  { operatorOnly = false } = {},
): Map<string, number> {
  const text = execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'get', '--raw', '/metrics'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const counts = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]),
    );
    const { resource = '', subresource = '', verb = '' } = labels;
    const controllerManager = resource === 'deployments' && subresource === 'status';
    const podLabels = operatorOnly && resource === 'pods' && !subresource && verb === 'PATCH';
    if (operatorOnly && controllerManager) continue;
    if (!MUTATING.has(verb) || !(OWNED.has(resource) || podLabels)) continue;
    const key = `${resource}${subresource ? `/${subresource}` : ''} ${verb}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return counts;
}

/** DDL statements run on the server so far (pg_stat_statements). */
export async function ddlCount(adminUrl: string): Promise<number> {
  await adminQuery(adminUrl, 'create extension if not exists pg_stat_statements');
  const { rows } = await adminQuery(
    adminUrl,
    `select coalesce(sum(calls), 0)::int as n from pg_stat_statements
      where query ~* '^\\s*(create|alter|drop|grant|revoke|comment)\\s' and query !~* 'extension'`,
  );
  return rows[0]?.n ?? 0;
}

/** `ACL SETUSER` calls the Redis server has handled so far. */
export async function aclSetuserCount(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  const match = /cmdstat_acl\|setuser:calls=(\d+)/.exec(info);
  return Number(match?.[1] ?? 0);
}
