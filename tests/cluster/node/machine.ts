// What this kind of machine needs from a real node, in one place with the
// reason for each. Nothing here is needed on an ordinary Linux host with
// cgroup v2; each setting is harmless there.

/** kubelet: settings for a cgroup v1 host without CAP_SYS_RESOURCE. */
export const KUBELET_MACHINE_SETTINGS = {
  // Kubernetes 1.35+ refuses cgroup v1 unless told otherwise; these hosts have v1 (hybrid).
  failCgroupV1: false,
  // No systemd manages the cgroups here.
  cgroupDriver: 'cgroupfs',
  failSwapOn: false,
  // Root cannot raise the open-files limit (no CAP_SYS_RESOURCE); kubelet logs the failure and goes on.
  // The disk is shared with everything else on the machine: evict nothing for disk pressure.
  evictionHard: {
    'memory.available': '100Mi',
    'nodefs.available': '1%',
    'imagefs.available': '1%',
  },
  imageGCHighThresholdPercent: 100,
  imageGCLowThresholdPercent: 99,
  // kubelet would otherwise try to set kernel sysctls the host owns.
  protectKernelDefaults: false,
} as const;

/** containerd's CRI runtime settings for the same host. */
export const CONTAINERD_MACHINE_SETTINGS = {
  // Without it every sandbox fails with "can't get final child's PID from pipe: EOF":
  // runc writes a negative oom_score_adj, which needs CAP_SYS_RESOURCE.
  restrictOomScoreAdj: true,
  // crun 1.8 refuses hybrid cgroup hierarchies; runc works. cgroupfs, as kubelet.
  runtimeBinary: '/usr/sbin/runc',
  systemdCgroup: false,
} as const;

/** kube-proxy: leave the host's conntrack sysctls alone (setting them needs privileges the host withholds). */
export const KUBE_PROXY_MACHINE_SETTINGS = {
  conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
} as const;
