import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Guarded, spawnGuarded, waitFor } from './processes.ts';

/** A podman API service speaking the Docker API on a socket the test run owns. */
export interface PodmanService {
  /** The value for DOCKER_HOST. */
  dockerHost: string;
  socket: string;
  process: Guarded;
  stop(): Promise<void>;
}

/**
 * Starts `podman system service` on a socket in a temporary directory, so
 * Docker clients such as testcontainers work on a machine without a Docker
 * engine; the service cannot outlive the test run.
 */
export async function startPodmanService(): Promise<PodmanService> {
  const dir = mkdtempSync(join(tmpdir(), 'tse-podman-'));
  const socket = join(dir, 'podman.sock');
  // --time=0: serve until stopped, rather than exiting after five idle seconds.
  const service = spawnGuarded(
    'podman system service',
    'podman',
    ['system', 'service', '--time=0', `unix://${socket}`],
    { cleanup: [dir] },
  );
  await waitFor('the podman service to answer /_ping', () => ping(socket), { process: service });
  return { dockerHost: `unix://${socket}`, socket, process: service, stop: () => service.stop() };
}

/** True when the Docker API on the socket answers its ping. */
export function ping(socket: string): Promise<true | undefined> {
  return new Promise((resolve, reject) => {
    const call = request({ socketPath: socket, path: '/_ping', timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200 ? true : undefined);
    });
    call.on('timeout', () => call.destroy(new Error('no answer within 1 s')));
    call.on('error', reject);
    call.end();
  });
}
