import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EventRecorder } from '../src/runtime/events.ts';
import type { KubeClient } from '../src/runtime/kube-client.ts';

// A replica that no longer leads sends nothing, whatever is still running in it.
function recordingClient() {
  const sent: string[] = [];
  const client = {
    request: async (method: string, path: string) => {
      sent.push(`${method} ${path}`);
      return { metadata: { name: 'x', namespace: 'n' } };
    },
  } as unknown as KubeClient;
  return { client, sent };
}

describe('writes once leadership is gone', () => {
  it('the event recorder says nothing once leadership is gone', async () => {
    const { client, sent } = recordingClient();
    let leads = true;
    const events = new EventRecorder(client, {
      component: 'c',
      log: pino({ level: 'silent' }),
      leading: () => leads,
    });
    const target = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'x', namespace: 'n', uid: 'u' },
    };
    events.record(target, 'Normal', 'One', 'first');
    leads = false;
    events.record(target, 'Normal', 'Two', 'second');
    expect(sent).toEqual(['POST /api/v1/namespaces/n/events']);
  });
});
