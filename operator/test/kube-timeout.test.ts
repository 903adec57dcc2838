import { createServer, type Socket } from 'node:net';
import { CoreV1Api } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimedKubeConfig } from '../src/runtime/kube.ts';

// An API server that accepts connections and never answers: a request must give up, not hang.
const sockets: Socket[] = [];
const silent = createServer((socket) => sockets.push(socket));
let port: number;
beforeAll(async () => {
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  port = (silent.address() as { port: number }).port;
});
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

describe('TimedKubeConfig', () => {
  it('aborts an API request that gets no answer within its timeout', async () => {
    const kc = new TimedKubeConfig(300);
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const started = Date.now();
    const error = await kc
      .makeApiClient(CoreV1Api)
      .listNamespace()
      .then(
        () => undefined,
        (e: unknown) => e as Error,
      );
    expect(error?.name).toMatch(/TimeoutError|AbortError/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
