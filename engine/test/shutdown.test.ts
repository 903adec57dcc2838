import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startEngine } from '../src/engine.ts';
import { config } from './helpers.ts';

/** A connection that sends half a request and then nothing: neither idle nor done. */
async function halfRequest(port: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write('GET /api/v1/health HTTP/1.1\r\nHost: engine\r\n');
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => {});
  return { socket, closed };
}

describe('stop', () => {
  it('cuts the HTTP connections still open at the shutdown timeout, one deadline for both ports', async () => {
    const timeoutMs = 1500;
    const engine = await startEngine(config({ SHUTDOWN_TIMEOUT_MS: String(timeoutMs) }), {
      host: '127.0.0.1',
    });
    const api = await halfRequest(engine.ports.http);
    const management = await halfRequest(engine.ports.management);
    // Without the cut, close() waits for the server's headers timeout (a minute) on each; with a
    // timeout per port, the two waits add up past the moment the process is ended (timeout + 1 s).
    const started = performance.now();
    await engine.stop();
    const took = performance.now() - started;
    await Promise.all([api.closed, management.closed]);
    expect(api.socket.destroyed && management.socket.destroyed).toBe(true);
    expect(took).toBeLessThan(timeoutMs + 1000);
  }, 10_000);
});
