import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tryRun } from './shell.ts';

/** Everything a real node may leave on the host, to be removed however the run ends. */
export interface NodeLeftovers {
  /** The node's network namespace. */
  namespace: string;
  /** The cgroup (below each hierarchy's root) that holds the node's pods. */
  cgroupRoot: string;
  /** containerd's socket: its shims name it on their command line. */
  containerdSocket: string;
  /** Directories whose mounts are unmounted; those in `remove` are deleted too. */
  mountDirs: string[];
  remove: string[];
}

const CGROUP_ROOT = '/sys/fs/cgroup';

/**
 * Removes what a node left: its containers' processes (by cgroup), the
 * containerd shims serving its socket, mounts below its directories, the
 * directories, the network namespace and the cgroups. Safe to run twice.
 */
export function cleanupNode(leftovers: NodeLeftovers): string[] {
  const done: string[] = [];
  const killed = killCgroupProcesses(leftovers.cgroupRoot) + killShims(leftovers.containerdSocket);
  if (killed > 0) done.push(`killed ${killed} leftover processes`);
  const unmounted = unmountBelow(leftovers.mountDirs);
  if (unmounted > 0) done.push(`unmounted ${unmounted} mounts`);
  for (const dir of leftovers.remove) {
    // Never delete through a mount that would not go: it may be a volume's data.
    const stuck = mountsBelow([dir]);
    if (stuck.length > 0) done.push(`kept ${dir}: still mounted there: ${stuck.join(', ')}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  if (tryRun('ip', ['netns', 'delete', leftovers.namespace]).ok)
    done.push(`deleted network namespace ${leftovers.namespace}`);
  removeCgroups(leftovers.cgroupRoot);
  return done;
}

/** Cgroup directories named `root` in every mounted hierarchy. */
function cgroupDirs(root: string): string[] {
  if (!existsSync(CGROUP_ROOT)) return [];
  const hierarchies = readdirSync(CGROUP_ROOT).map((name) => join(CGROUP_ROOT, name));
  return [CGROUP_ROOT, ...hierarchies]
    .map((hierarchy) => join(hierarchy, root))
    .filter((dir) => existsSync(join(dir, 'cgroup.procs')));
}

function descendants(dir: string): string[] {
  const below = readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => descendants(join(dir, entry.name)));
  return [...below, dir];
}

function killCgroupProcesses(root: string): number {
  const pids = new Set<number>();
  for (const dir of cgroupDirs(root))
    for (const cgroup of descendants(dir))
      for (const pid of readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n'))
        if (pid) pids.add(Number(pid));
  for (const pid of pids) kill(pid);
  return pids.size;
}

function killShims(socket: string): number {
  let killed = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (command[0]?.endsWith('containerd-shim-runc-v2') && command.includes(socket)) {
        kill(Number(entry));
        killed++;
      }
    } catch {
      // The process ended while we looked.
    }
  }
  return killed;
}

function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** Mount points at or below the directories, deepest first. */
function mountsBelow(dirs: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((point) => point.replace(/\\040/g, ' '))
    .filter((point) => dirs.some((dir) => point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/** Lazily unmounts every mount point below the directories, deepest first. */
function unmountBelow(dirs: string[]): number {
  const points = mountsBelow(dirs);
  for (const point of points) tryRun('umount', ['-l', point]);
  return points.length;
}

function removeCgroups(root: string): void {
  for (let attempt = 0; attempt < 20; attempt++) {
    let left = 0;
    for (const dir of cgroupDirs(root))
      for (const cgroup of descendants(dir)) {
        try {
          rmdirSync(cgroup);
        } catch {
          left++;
        }
      }
    if (left === 0) return;
    // Killed processes take a moment to leave their cgroups.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
  }
}
