import { existsSync } from 'node:fs';
import { run, tryRun } from './shell.ts';

/**
 * The real node's network: a network namespace of its own joined to the host
 * by a veth pair. containerd, kubelet and kube-proxy run inside it, so the
 * pods' bridge, their network namespaces' routes and every iptables chain
 * kube-proxy and the CNI plugins write live there and vanish with it. The
 * host keeps only its end of the pair (gone with the namespace) and a route
 * to the pods through it.
 */
export interface NodeNetwork {
  /** The network namespace's name (`ip netns`), also naming its interfaces. */
  namespace: string;
  /** The host's address on the link: where pods reach the API server and the stores. */
  hostIp: string;
  /** The node's address: its InternalIP. */
  nodeIp: string;
  /** Addresses the pods on the node get. */
  podCidr: string;
  /** The range that holds all of the above, for firewall and pg_hba rules. */
  cidr: string;
}

const SLOTS = 8;

/** The addresses of slot `index` (one real node per slot; a machine runs a few at most). */
export function nodeNetworkPlan(index: number): NodeNetwork {
  return {
    namespace: `tse-node-${index}`,
    hostIp: `10.213.${index * 2}.1`,
    nodeIp: `10.213.${index * 2}.2`,
    podCidr: `10.213.${index * 2 + 1}.0/24`,
    cidr: '10.213.0.0/16',
  };
}

/** Creates the namespace and the link in the first free slot. */
export function createNodeNetwork(): NodeNetwork {
  for (let index = 0; index < SLOTS; index++) {
    const plan = nodeNetworkPlan(index);
    // `ip netns add` fails when the name exists: the slot is taken.
    if (!tryRun('ip', ['netns', 'add', plan.namespace]).ok) continue;
    try {
      configure(plan);
      return plan;
    } catch (error) {
      destroyNodeNetwork(plan);
      throw error;
    }
  }
  throw new Error(
    `every real-node network slot is taken (ip netns: ${tryRun('ip', ['netns', 'list']).output}); ` +
      'stop the other local clusters (npm run cluster:down) or delete stale namespaces with `ip netns delete tse-node-N`',
  );
}

function configure({ namespace, hostIp, nodeIp, podCidr }: NodeNetwork): void {
  const host = `${namespace.replace('tse-node-', 'tseh')}`;
  const inside = `${namespace.replace('tse-node-', 'tsen')}`;
  const inNamespace = (...args: string[]) => run('ip', ['netns', 'exec', namespace, ...args]);
  run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', inside]);
  run('ip', ['link', 'set', inside, 'netns', namespace]);
  run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', host]);
  run('ip', ['link', 'set', host, 'up']);
  inNamespace('ip', 'link', 'set', 'lo', 'up');
  inNamespace('ip', 'addr', 'add', `${nodeIp}/30`, 'dev', inside);
  inNamespace('ip', 'link', 'set', inside, 'up');
  inNamespace('ip', 'route', 'add', 'default', 'via', hostIp);
  // The node routes between the pods' bridge and its link, and kube-proxy's
  // rules must see bridged traffic (pod -> Service -> pod on the same bridge).
  inNamespace('sysctl', '-q', '-w', 'net.ipv4.ip_forward=1');
  if (existsSync('/proc/sys/net/bridge/bridge-nf-call-iptables'))
    inNamespace('sysctl', '-q', '-w', 'net.bridge.bridge-nf-call-iptables=1');
  inNamespace('sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1');
  // The host reaches pods (tests, the API server's proxy and logs) through the node.
  run('ip', ['route', 'add', podCidr, 'via', nodeIp, 'dev', host]);
}

/** Deletes the namespace (its interfaces, routes and iptables rules go with it). */
export function destroyNodeNetwork({ namespace }: NodeNetwork): void {
  tryRun('ip', ['netns', 'delete', namespace]);
}

/** Network namespaces whose names say a real node made them (for leak checks). */
export function nodeNamespaces(): string[] {
  if (!existsSync('/run/netns')) return [];
  return tryRun('ip', ['netns', 'list'])
    .output.split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith('tse-node-'));
}

/** The command prefix that runs a program in the node's network namespace, keeping the host's mounts. */
export function inNodeNetwork(network: NodeNetwork): string[] {
  // Not `ip netns exec`: it gives the program a mount namespace of its own, and
  // kubelet's volume mounts must be visible to containerd and runc.
  return ['nsenter', `--net=/run/netns/${network.namespace}`, '--'];
}
