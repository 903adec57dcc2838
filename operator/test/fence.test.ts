import { createServer } from 'node:http';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventRecorder } from '../src/runtime/events.ts';
import { writeFence } from '../src/runtime/fence.ts';
import { KubeClient } from '../src/runtime/kube-client.ts';

// A replica that no longer leads sends nothing, whatever is still running in it: the client's
// fence holds the write back (a local HTTP server stands in for the network only).
async function recordingClient(leads: () => boolean) {
  const sent: string[] = [];
  const server = createServer((request, response) => {
    sent.push(`${request.method} ${request.url}`);
    response.writeHead(201, { 'content-type': 'application/json' }).end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new KubeClient(
    {
      server: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      tls: { rejectUnauthorized: true },
      token: async () => undefined,
      invalidate: () => false,
    },
    { requestTimeoutMs: 1000, fence: writeFence(leads) },
  );
  const close = () => {
    client.close();
    return new Promise((resolve) => server.close(resolve));
  };
  return { client, sent, close };
}

describe('writes once leadership is gone', () => {
  it('the event recorder says nothing once leadership is gone', async () => {
    let leads = true;
    const { client, sent, close } = await recordingClient(() => leads);
    const events = new EventRecorder(client, { component: 'c', log: pino({ level: 'silent' }) });
    const target = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'x', namespace: 'n', uid: 'u' },
    };
    events.record(target, 'Normal', 'One', 'first');
    await new Promise((resolve) => setTimeout(resolve, 100));
    leads = false;
    events.record(target, 'Normal', 'Two', 'second');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toEqual(['POST /api/v1/namespaces/n/events']);
    await close();
  });
});
