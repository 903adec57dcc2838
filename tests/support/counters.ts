import { execFileSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { adminQuery } from './fixtures.ts';

const OWNED = new Set([
  'deployments',
  'services',
  'secrets',
  'tradingengineinstances',
  'servicemonitors',
  'poddisruptionbudgets',
]);
const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'APPLY', 'DELETE', 'DELETECOLLECTION']);

/**
 * Mutating requests on the operator's kinds, from the API server's own
 * metrics. `operatorOnly` leaves out Deployment status, which
 * kube-controller-manager writes.
 */
export function apiserverWrites(
  kubectl: string,
  kubeconfig: string,
  { operatorOnly = false } = {},
): number {
  const text = execFileSync(kubectl, ['--kubeconfig', kubeconfig, 'get', '--raw', '/metrics'], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const labels = Object.fromEntries(
      [...line.matchAll(/(\w+)="([^"]*)"/g)].map((match) => [match[1], match[2]]),
    );
    const controllerManager = labels.resource === 'deployments' && labels.subresource === 'status';
    if (operatorOnly && controllerManager) continue;
    if (MUTATING.has(labels.verb ?? '') && OWNED.has(labels.resource ?? ''))
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
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
