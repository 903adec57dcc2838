import { join } from 'node:path';
import { CONTAINERD_MACHINE_SETTINGS } from './machine.ts';

/** Where a node's containerd keeps things. */
export interface ContainerdPaths {
  /** Images and snapshots: kept between runs so images are imported once. */
  root: string;
  /** Sockets, shims' state and the pods' network namespaces: removed with the node. */
  state: string;
  /** The CNI configuration directory. */
  cniConfig: string;
}

/** The CRI's socket under a node's state directory. */
export function containerdSocket(paths: ContainerdPaths): string {
  return join(paths.state, 'containerd.sock');
}

/**
 * containerd's configuration (version 3) for a node: CRI with runc and the
 * Debian CNI plugins, a local sandbox image, and everything it mounts or
 * creates kept under the node's own directories.
 */
export function containerdConfig(paths: ContainerdPaths, sandboxImage: string): string {
  const { restrictOomScoreAdj, runtimeBinary, systemdCgroup } = CONTAINERD_MACHINE_SETTINGS;
  const q = (text: string) => JSON.stringify(text);
  return `version = 3
root = ${q(paths.root)}
state = ${q(paths.state)}

[grpc]
  address = ${q(containerdSocket(paths))}

[ttrpc]
  address = ${q(`${containerdSocket(paths)}.ttrpc`)}

[debug]
  level = "warn"

[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = ${q(join(paths.root, 'opt'))}

  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true

  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = ${q(sandboxImage)}

  [plugins.'io.containerd.cri.v1.runtime']
    restrict_oom_score_adj = ${restrictOomScoreAdj}
    # The pods' network namespaces are mounted under the node's state, not /run/netns.
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = ${q(runtimeBinary)}
          SystemdCgroup = ${systemdCgroup}
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = ${q(paths.cniConfig)}
`;
}

/**
 * The pods' network: a bridge inside the node's namespace, addresses from
 * the node's pod range, masquerade for traffic leaving the node, and port
 * mappings (hostPort).
 */
export function cniConfig(podCidr: string, ipamDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'tse-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: podCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
            // Not /var/lib/cni: the node's address book goes with the node.
            dataDir: ipamDir,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}
