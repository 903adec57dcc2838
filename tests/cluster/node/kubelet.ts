import { KUBELET_MACHINE_SETTINGS } from './machine.ts';

/** What a kubelet's configuration depends on. */
export interface KubeletInputs {
  nodeIp: string;
  clientCaFile: string;
  containerdSocket: string;
  /** A resolv.conf for pods: the host's own would hand them the host's resolvers. */
  resolvConf: string;
  /** The cgroup every pod of this node lives under, so two nodes never share one. */
  cgroupRoot: string;
}

/** The kubelet's configuration file (KubeletConfiguration v1beta1, as JSON). */
export function kubeletConfig(inputs: KubeletInputs): string {
  return JSON.stringify(
    {
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      address: inputs.nodeIp,
      port: 10250,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 0,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: inputs.clientCaFile },
      },
      authorization: { mode: 'Webhook' },
      containerRuntimeEndpoint: `unix://${inputs.containerdSocket}`,
      cgroupRoot: inputs.cgroupRoot,
      cgroupsPerQOS: true,
      enforceNodeAllocatable: [],
      resolvConf: inputs.resolvConf,
      clusterDomain: 'cluster.local',
      serializeImagePulls: false,
      maxPods: 60,
      nodeStatusUpdateFrequency: '4s',
      nodeStatusReportFrequency: '10s',
      syncFrequency: '10s',
      fileCheckFrequency: '10s',
      shutdownGracePeriod: '0s',
      localStorageCapacityIsolation: false,
      ...KUBELET_MACHINE_SETTINGS,
    },
    null,
    2,
  );
}
