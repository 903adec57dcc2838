import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startEngine } from '../src/engine.ts';
import { loadProtos } from '../src/grpc/server.ts';
import { config, logLines, TOKENS, withToken } from './helpers.ts';

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
let engine: Engine;
let health: Client;
let instance: Client;

beforeAll(async () => {
  engine = await startEngine(config({ SERVICE_INSTANCE_NAME: 'trading-system-engine-LH' }), {
    host: '127.0.0.1',
    logDestination: logLines().stream,
  });
  const protos = loadProtos([
    'grpc/health/v1/health.proto',
    'tse/engine/v1/instance.proto',
  ]) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
    tse: { engine: { v1: { Instance: grpc.ServiceClientConstructor } } };
  };
  const address = `127.0.0.1:${engine.ports.grpc}`;
  // The health service answers without a token: kubelet's probe has none.
  health = new protos.grpc.health.v1.Health(
    address,
    grpc.credentials.createInsecure(),
  ) as unknown as Client;
  instance = new protos.tse.engine.v1.Instance(address, grpc.credentials.createInsecure(), {
    interceptors: [withToken(TOKENS.read)],
  }) as unknown as Client;
});

afterAll(async () => {
  health.close();
  instance.close();
  await engine.stop();
});

const call = <T>(client: Client, method: string, request: unknown) =>
  new Promise<T>((resolve, reject) =>
    client[method]?.(request, (error: Error | null, reply: T) =>
      error ? reject(error) : resolve(reply),
    ),
  );

describe('gRPC', () => {
  it('reports the instance identity', async () => {
    expect(await call(instance, 'GetIdentity', {})).toMatchObject({
      service_name: 'trading-system-engine',
      instance_name: 'trading-system-engine-LH',
      postgres_schema: 'trading_system_engine_lh',
      redis_namespace: 'trading_system:LH',
      ready: true,
    });
  });

  it('answers Check with SERVING while ready and NOT_SERVING while not', async () => {
    expect(await call(health, 'Check', { service: '' })).toEqual({ status: 'SERVING' });
    engine.status.hold('test', 'held by the test');
    expect(await call(health, 'Check', { service: 'tse.engine.v1.Instance' })).toEqual({
      status: 'NOT_SERVING',
    });
    engine.status.release('test');
    await expect(call(health, 'Check', { service: 'no.such.Service' })).rejects.toMatchObject({
      code: grpc.status.NOT_FOUND,
    });
  });

  it('streams every change to Watch, and ends the stream on shutdown', async () => {
    const seen: string[] = [];
    const stream = health.Watch?.({ service: '' }) as grpc.ClientReadableStream<{ status: string }>;
    const ended = new Promise((resolve) => stream.on('end', resolve));
    stream.on('data', (message) => seen.push(message.status));
    await waitUntil(() => seen.length === 1);
    engine.status.hold('test', 'held by the test');
    await waitUntil(() => seen.length === 2);
    engine.status.release('test');
    await waitUntil(() => seen.length === 3);
    await engine.stop();
    await ended;
    expect(seen).toEqual(['SERVING', 'NOT_SERVING', 'SERVING', 'NOT_SERVING']);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++)
    await new Promise((resolve) => setTimeout(resolve, 10));
  expect(condition()).toBe(true);
}
