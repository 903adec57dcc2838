import { readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay to a server (the API server) that can be opened and closed:
 * closing it cuts every connection through it, as a network partition would.
 */
export class Relay {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  readonly port: number;
  private readonly target: URL;

  constructor(port: number, target: string) {
    this.port = port;
    this.target = new URL(target);
  }

  get isOpen(): boolean {
    return this.server !== undefined;
  }

  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(Number(this.target.port), this.target.hostname);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
    this.server = undefined;
  }
}

/** A copy of a (JSON) kubeconfig whose clusters are reached through the relay on `port`. */
export function kubeconfigThrough(kubeconfig: string, port: number, path: string): string {
  const config = JSON.parse(readFileSync(kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string } }[];
  };
  for (const { cluster } of config.clusters) cluster.server = `https://127.0.0.1:${port}`;
  writeFileSync(path, JSON.stringify(config));
  return path;
}

/** The API server URL a (JSON) kubeconfig names. */
export function serverOf(kubeconfig: string): string {
  const config = JSON.parse(readFileSync(kubeconfig, 'utf8')) as {
    clusters: { cluster: { server: string } }[];
  };
  const server = config.clusters[0]?.cluster.server;
  if (!server) throw new Error(`${kubeconfig} names no server`);
  return server;
}
