import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The namespaces the product is installed into, as a user following the docs would. */
export const SYSTEM_NAMESPACE = 'tse-system';
export const EXAMPLES_NAMESPACE = 'trading';
export const RELEASE = 'teo';
export const OPERATOR_DEPLOYMENT = `${RELEASE}-trading-engine-operator`;

/** How to reach a cluster with kubectl and helm. */
export interface Tools {
  kubeconfig: string;
  kubectl: string;
  helm: string;
}

/** Runs kubectl or helm; throws with their output when they fail. */
export function tool(tools: Tools, name: 'kubectl' | 'helm', args: string[]): string {
  const result = spawnSync(tools[name], ['--kubeconfig', tools.kubeconfig, ...args], {
    encoding: 'utf8',
    timeout: 600_000,
  });
  if (result.status !== 0)
    throw new Error(
      `${name} ${args.join(' ')} exited with ${result.status}:\n${result.stdout}${result.stderr}`,
    );
  return result.stdout.trim();
}

/** Splits an image reference into the chart's repository and tag values. */
function repositoryAndTag(ref: string): [string, string] {
  const colon = ref.lastIndexOf(':');
  return [ref.slice(0, colon), ref.slice(colon + 1)];
}

/**
 * Installs the product as the docs tell users to: the admin Secrets from the
 * stores' URLs, then `helm install` of the chart with the images, waiting
 * until the operator is ready.
 */
export function installProduct(
  tools: Tools,
  options: {
    images: { engine: string; operator: string };
    stores: { postgres: string; redis: string };
    values?: string[];
  },
): void {
  const kubectl = (...args: string[]) => tool(tools, 'kubectl', args);
  kubectl('create', 'namespace', SYSTEM_NAMESPACE);
  for (const [secret, url] of [
    ['postgres-admin', options.stores.postgres],
    ['redis-admin', options.stores.redis],
  ] as const)
    kubectl(
      '-n',
      SYSTEM_NAMESPACE,
      'create',
      'secret',
      'generic',
      secret,
      `--from-literal=url=${url}`,
    );
  const [repository, tag] = repositoryAndTag(options.images.operator);
  const set = (value: string) => ['--set', value];
  tool(tools, 'helm', [
    'install',
    RELEASE,
    `${root}helm/trading-engine-operator`,
    '--namespace',
    SYSTEM_NAMESPACE,
    ...set(`image.repository=${repository}`),
    ...set(`image.tag=${tag}`),
    ...set(`engineImage=${options.images.engine}`),
    ...set('postgres.adminSecret.name=postgres-admin'),
    ...set('redis.adminSecret.name=redis-admin'),
    ...(options.values ?? []).flatMap(set),
    // The CRD may exist already (another release, or applied from crds/).
    '--take-ownership',
    '--wait',
    '--timeout',
    '180s',
  ]);
}

/** Applies the examples' namespace and the seed's three instances. */
export function applyExamples(tools: Tools): string[] {
  const files = ['namespace.yaml', 'singleton.yaml', 'lh.yaml', 'alpha.yaml'];
  return files.map((file) =>
    tool(tools, 'kubectl', ['apply', '--server-side', '-f', `${root}examples/${file}`]),
  );
}
