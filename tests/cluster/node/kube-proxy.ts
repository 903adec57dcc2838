import { KUBE_PROXY_MACHINE_SETTINGS } from './machine.ts';

/** kube-proxy's configuration (KubeProxyConfiguration v1alpha1, as JSON): iptables mode inside the node's namespace. */
export function kubeProxyConfig(inputs: {
  kubeconfig: string;
  nodeName: string;
  clusterCidr: string;
}): string {
  return JSON.stringify(
    {
      apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      clientConnection: { kubeconfig: inputs.kubeconfig },
      hostnameOverride: inputs.nodeName,
      clusterCIDR: inputs.clusterCidr,
      bindAddress: '0.0.0.0',
      healthzBindAddress: '127.0.0.1:10256',
      metricsBindAddress: '127.0.0.1:10249',
      iptables: { syncPeriod: '30s', minSyncPeriod: '0s' },
      ...KUBE_PROXY_MACHINE_SETTINGS,
    },
    null,
    2,
  );
}
