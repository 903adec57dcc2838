import * as grpc from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bearerToken } from '../src/access/auth.ts';
import { peerAddress } from '../src/access/limits.ts';
import { type Engine, startEngine } from '../src/engine.ts';
import { OPEN_SERVICES, served } from '../src/grpc/guard.ts';
import { loadProtos } from '../src/grpc/server.ts';
import { accessTable } from '../src/http/app.ts';
import { bearer, config, logLines, TOKENS } from './helpers.ts';

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;
type Protos = {
  grpc: {
    health: { v1: { Health: grpc.ServiceClientConstructor } };
    reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } };
  };
  tse: {
    engine: {
      v1: {
        Trading: grpc.ServiceClientConstructor;
        Instance: grpc.ServiceClientConstructor;
      };
    };
  };
};
const protos = loadProtos([
  'grpc/health/v1/health.proto',
  'grpc/reflection/v1/reflection.proto',
  'tse/engine/v1/instance.proto',
  'tse/engine/v1/trading.proto',
]) as unknown as Protos;

/** Another instance's tokens: as long, as well formed, and worth nothing here. */
const OTHER = 'other-instance-token-0123456789abcdef0123456789';

/** The credentials every route and RPC is tried with, and what each may do. */
const CREDENTIALS = [
  ['no token', undefined],
  ['a wrong token', bearer('x'.repeat(48))],
  ["another instance's token", bearer(OTHER)],
  ['a token in the wrong scheme', `Basic ${TOKENS.trade}`],
  ['the read token', bearer(TOKENS.read)],
  ['the trading token', bearer(TOKENS.trade)],
] as const;

/** Bodies that would do something if they were let through. */
const BODIES: Record<string, unknown> = {
  'POST /api/v1/orders': { instrument_id: 'BTC-USD', side: 'buy', quantity: '1' },
  'POST /api/v1/market-data': { instrument_id: 'BTC-USD', price: '100' },
  'POST /api/v1/strategies': {
    name: 'mm',
    strategy_type: 'market_making',
    instruments: ['BTC-USD'],
  },
  PlaceOrder: { instrument_id: 'BTC-USD', side: 'buy', quantity: '1' },
  PublishMarketData: { instrument_id: 'BTC-USD', price: '100' },
  CreateStrategy: { name: 'mm', strategy_type: 'market_making', instruments: ['BTC-USD'] },
};

/** What the contract says the read token may call: lists, gets, positions, event streams. */
const isReadRpc = (name: string) => /^(Get|List|Stream)/.test(name);

const engines: Engine[] = [];
const clients: grpc.Client[] = [];
afterAll(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const engine of engines.splice(0)) await engine.stop();
});

async function engine(env: Record<string, string> = {}) {
  const log = logLines();
  const started = await startEngine(config({ RATE_LIMIT_PER_SECOND: '0', ...env }), {
    host: '127.0.0.1',
    logDestination: log.stream,
  });
  engines.push(started);
  return { engine: started, log };
}

function client(engine: Engine, service: 'Trading' | 'Instance' | 'Health'): Client {
  const Stub = service === 'Health' ? protos.grpc.health.v1.Health : protos.tse.engine.v1[service];
  const made = new Stub(
    `127.0.0.1:${engine.ports.grpc}`,
    grpc.credentials.createInsecure(),
  ) as unknown as Client;
  clients.push(made);
  return made;
}

const metadata = (authorization: string | undefined) => {
  const result = new grpc.Metadata();
  if (authorization) result.set('authorization', authorization);
  return result;
};

/** Calls any method: the status code it ended with, OK for an answer or an open stream. */
function callAny(
  service: Client,
  definition: grpc.ServiceDefinition,
  name: string,
  authorization: string | undefined,
  request: unknown = BODIES[name] ?? {},
): Promise<grpc.status> {
  const method = service[name];
  if (!method) throw new Error(`no method ${name}`);
  if (!definition[name]?.responseStream)
    return new Promise((resolve) =>
      method.call(service, request, metadata(authorization), (error: grpc.ServiceError | null) =>
        resolve(error ? error.code : grpc.status.OK),
      ),
    );
  const stream = method.call(
    service,
    request,
    metadata(authorization),
  ) as grpc.ClientReadableStream<unknown>;
  return new Promise((resolve) => {
    // A stream that is still open after a while has been let in.
    const open = setTimeout(() => {
      stream.cancel();
      resolve(grpc.status.OK);
    }, 150);
    stream.on('error', (error: grpc.ServiceError) => {
      clearTimeout(open);
      resolve(error.code);
    });
    stream.on('data', () => {});
  });
}

describe('the HTTP API', () => {
  let subject: Engine;
  beforeAll(async () => {
    subject = (await engine()).engine;
    // Another instance, with its own tokens, next to it.
    await engine({ API_TOKEN: OTHER, API_READ_TOKEN: `${OTHER}-read` });
  });

  it('leaves only health and the OpenAPI document open; every other route needs a grant: read for GET and HEAD, trade otherwise', () => {
    const table = accessTable(subject.app);
    expect(table.filter((route) => !route.access).map((route) => route.url)).toEqual(
      expect.arrayContaining([
        '/health',
        '/api/v1/health',
        '/api/v1/health/live',
        '/api/v1/health/ready',
      ]),
    );
    // Besides health, only the OpenAPI document, which describes the API and holds no data.
    for (const route of table.filter((route) => !route.access))
      expect(route.url).toMatch(
        /^((\/api\/v1)?\/health(\/live|\/ready)?|\/api\/v1\/openapi\.json)$/,
      );
    expect(table).toEqual(
      expect.arrayContaining([
        { method: 'GET', url: '/api/v1/orders', access: 'read' },
        { method: 'POST', url: '/api/v1/orders', access: 'trade' },
        { method: 'DELETE', url: '/api/v1/orders/:id', access: 'trade' },
        { method: 'POST', url: '/api/v1/strategies/:id/start', access: 'trade' },
        { method: 'POST', url: '/api/v1/market-data', access: 'trade' },
      ]),
    );
    expect(table.some((route) => route.url.includes('metrics'))).toBe(false);
  });

  it('answers every guarded route by the credentials it is given, and does nothing for refused ones', async () => {
    const guarded = accessTable(subject.app).filter((route) => route.access);
    expect(guarded.length).toBeGreaterThan(10);
    const outcomes: string[] = [];
    const expected: string[] = [];
    // Refused credentials first, so that "nothing done" can be checked before anything is.
    for (const [label, authorization] of CREDENTIALS) {
      for (const route of guarded) {
        const key = `${route.method} ${route.url}`;
        const body = BODIES[key];
        const response = await subject.app.inject({
          method: route.method as 'GET',
          url: route.url.replaceAll(':id', 'no-such-id'),
          headers: authorization ? { authorization } : {},
          ...(body !== undefined && { payload: body as object }),
        });
        const refused = response.statusCode === 401 || response.statusCode === 403;
        outcomes.push(`${key} with ${label}: ${refused ? response.statusCode : 'let in'}`);
        const wanted =
          label === 'the trading token' || (label === 'the read token' && route.access === 'read')
            ? 'let in'
            : label === 'the read token'
              ? 403
              : 401;
        expected.push(`${key} with ${label}: ${wanted}`);
        if (response.statusCode === 401)
          expect(response.headers['www-authenticate']).toBe('Bearer');
        if (response.statusCode === 401 && route.method !== 'HEAD') {
          expect(response.json()).toEqual({
            error: 'Unauthorized',
            message: 'a valid bearer token is required (Authorization: Bearer <token>)',
          });
        }
        if (response.statusCode === 403 && route.method !== 'HEAD')
          expect(response.json().error).toBe('Forbidden');
      }
      if (label === 'the read token') {
        // Nothing any refused credential sent was done.
        expect(subject.trading.price('BTC-USD')).toBeUndefined();
        expect(await subject.stores.store.orders.list({}, { limit: 10, offset: 0 })).toEqual([]);
        expect(await subject.stores.store.strategies.list({}, { limit: 10, offset: 0 })).toEqual(
          [],
        );
      }
    }
    expect(outcomes).toEqual(expected);
    // The trading token's requests were done.
    expect(subject.trading.price('BTC-USD')).toBe('100');
  });

  it('serves health on the API port without a token, but no longer /metrics', async () => {
    for (const url of ['/health', '/api/v1/health', '/api/v1/health/live', '/api/v1/health/ready'])
      expect((await fetch(`http://127.0.0.1:${subject.ports.http}${url}`)).status).toBe(200);
    for (const url of ['/metrics', '/api/v1/metrics']) {
      const response = await fetch(`http://127.0.0.1:${subject.ports.http}${url}`, {
        headers: { authorization: bearer(TOKENS.trade) },
      });
      expect(response.status).toBe(404);
    }
  });

  it('serves health and /metrics on the management port, to anyone, and nothing of the API', async () => {
    const base = `http://127.0.0.1:${subject.ports.management}`;
    expect(subject.ports.management).not.toBe(subject.ports.http);
    for (const url of ['/api/v1/health', '/api/v1/health/live', '/api/v1/health/ready'])
      expect((await fetch(`${base}${url}`)).status).toBe(200);
    const metrics = await fetch(`${base}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('engine_ready{');
    const trading = await fetch(`${base}/api/v1/orders`, {
      headers: { authorization: bearer(TOKENS.trade) },
    });
    expect(trading.status).toBe(404);
  });
});

/** The guarded services whose every RPC the table below tries with every credential. */
const GUARDED_SERVICES = ['Trading', 'Instance'] as const;

/** One server reflection exchange, without a token: the answer to `request`. */
function reflect(engine: Engine, request: Record<string, unknown>) {
  const stub = new protos.grpc.reflection.v1.ServerReflection(
    `127.0.0.1:${engine.ports.grpc}`,
    grpc.credentials.createInsecure(),
  ) as unknown as Client;
  clients.push(stub);
  const stream = stub.ServerReflectionInfo?.() as grpc.ClientDuplexStream<unknown, unknown>;
  const { promise, resolve, reject } = Promise.withResolvers<Record<string, unknown>>();
  stream.on('data', (answer: Record<string, unknown>) => {
    resolve(answer);
    stream.end();
  });
  stream.on('error', reject);
  stream.write(request);
  return promise;
}

describe('the gRPC API', () => {
  let subject: Engine;
  beforeAll(async () => {
    subject = (await engine()).engine;
  });

  it('serves only guarded services (all in the table below) and the open ones', () => {
    const names = served(subject.grpc);
    const guardedNames = GUARDED_SERVICES.map((service) => `tse.engine.v1.${service}`);
    expect(names.filter((name) => !OPEN_SERVICES.has(name)).sort()).toEqual(guardedNames.sort());
    expect([...OPEN_SERVICES].sort()).toEqual(
      names.filter((name) => OPEN_SERVICES.has(name)).sort(),
    );
  });

  it('answers server reflection without a token, describing exactly the services it serves', async () => {
    const listed = (await reflect(subject, { list_services: '*' })) as {
      list_services_response: { service: { name: string }[] };
    };
    expect(listed.list_services_response.service.map((service) => service.name).sort()).toEqual(
      [
        'grpc.health.v1.Health',
        'grpc.reflection.v1.ServerReflection',
        'tse.engine.v1.Instance',
        'tse.engine.v1.Trading',
      ].sort(),
    );
    const described = (await reflect(subject, {
      file_containing_symbol: 'tse.engine.v1.Trading',
    })) as { file_descriptor_response: { file_descriptor_proto: Buffer[] } };
    const files = described.file_descriptor_response.file_descriptor_proto;
    expect(files.length).toBeGreaterThan(0);
    expect(Buffer.concat(files).toString('latin1')).toContain('PlaceOrder');
  });

  it('guards every Trading and Instance RPC by the credentials it is given', async () => {
    const outcomes: string[] = [];
    const expected: string[] = [];
    for (const service of GUARDED_SERVICES) {
      const definition = protos.tse.engine.v1[service].service;
      const names = Object.keys(definition);
      expect(names.length).toBeGreaterThan(0);
      const stub = client(subject, service);
      for (const [label, authorization] of CREDENTIALS) {
        for (const name of names) {
          const code = await callAny(stub, definition, name, authorization);
          const refused =
            code === grpc.status.UNAUTHENTICATED || code === grpc.status.PERMISSION_DENIED;
          outcomes.push(`${name} with ${label}: ${refused ? grpc.status[code] : 'let in'}`);
          const wanted =
            label === 'the trading token' || (label === 'the read token' && isReadRpc(name))
              ? 'let in'
              : label === 'the read token'
                ? 'PERMISSION_DENIED'
                : 'UNAUTHENTICATED';
          expected.push(`${name} with ${label}: ${wanted}`);
        }
        if (label === 'the read token' && service === 'Trading') {
          expect(subject.trading.price('BTC-USD')).toBeUndefined();
          expect(await subject.stores.store.orders.list({}, { limit: 10, offset: 0 })).toEqual([]);
        }
      }
    }
    expect(outcomes).toEqual(expected);
    expect(subject.trading.price('BTC-USD')).toBe('100');
  });

  it('leaves the standard health service open for probes', async () => {
    const health = client(subject, 'Health');
    const definition = protos.grpc.health.v1.Health.service;
    expect(await callAny(health, definition, 'Check', undefined, { service: '' })).toBe(
      grpc.status.OK,
    );
    expect(await callAny(health, definition, 'Watch', undefined, { service: '' })).toBe(
      grpc.status.OK,
    );
  });
});

describe('limits', () => {
  const opened: grpc.ClientReadableStream<unknown>[] = [];
  afterEach(() => {
    for (const stream of opened.splice(0)) stream.cancel();
  });

  it('refuses an HTTP body over 64 KiB with 413, and over-long fields with 400', async () => {
    const { engine: subject } = await engine();
    const headers = { authorization: bearer(TOKENS.trade) };
    const big = await subject.app.inject({
      method: 'POST',
      url: '/api/v1/orders',
      headers,
      payload: { instrument_id: 'x'.repeat(70 * 1024), side: 'buy', quantity: '1' },
    });
    expect(big.statusCode).toBe(413);
    expect(big.json().error).toBe('Payload Too Large');
    const cases: [string, unknown, RegExp][] = [
      [
        '/api/v1/orders',
        { instrument_id: 'x'.repeat(65), side: 'buy', quantity: '1' },
        /instrument_id/,
      ],
      [
        '/api/v1/orders',
        { instrument_id: 'X', side: 'buy', quantity: '1'.repeat(40) },
        /at most 32/,
      ],
      [
        '/api/v1/strategies',
        {
          name: 'mm',
          strategy_type: 'market_making',
          instruments: ['A'],
          parameters: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, i])),
        },
        /at most 32 keys/,
      ],
      [
        '/api/v1/strategies',
        {
          name: 'mm',
          strategy_type: 'market_making',
          instruments: ['A'],
          parameters: { blob: 'x'.repeat(5000) },
        },
        /at most 4096 bytes/,
      ],
    ];
    for (const [url, payload, message] of cases) {
      const response = await subject.app.inject({
        method: 'POST',
        url,
        headers,
        payload: payload as object,
      });
      expect(response.statusCode).toBe(400);
      expect(response.json().message).toMatch(message);
    }
    const paged = await subject.app.inject({ url: '/api/v1/orders?offset=1000001', headers });
    expect(paged.statusCode).toBe(400);
  });

  it('refuses a gRPC message over 64 KiB with RESOURCE_EXHAUSTED, and an over-long id with INVALID_ARGUMENT', async () => {
    const { engine: subject } = await engine();
    const trading = client(subject, 'Trading');
    const definition = protos.tse.engine.v1.Trading.service;
    const token = bearer(TOKENS.trade);
    expect(
      await callAny(trading, definition, 'PlaceOrder', token, {
        instrument_id: 'x'.repeat(70 * 1024),
        side: 'buy',
        quantity: '1',
      }),
    ).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(
      await callAny(trading, definition, 'GetOrder', token, { order_id: 'x'.repeat(65) }),
    ).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it('caps the order event streams and the health watches open at once', async () => {
    const { engine: subject } = await engine({ MAX_EVENT_STREAMS: '2' });
    const trading = client(subject, 'Trading');
    const health = client(subject, 'Health');
    const open = (stub: Client, method: string, request: unknown) => {
      const stream = stub[method]?.(
        request,
        metadata(bearer(TOKENS.read)),
      ) as grpc.ClientReadableStream<unknown>;
      stream.on('error', () => {});
      stream.on('data', () => {});
      opened.push(stream);
      return stream;
    };
    const definition = protos.tse.engine.v1.Trading.service;
    const token = bearer(TOKENS.read);
    for (const [stub, method, request] of [
      [trading, 'StreamOrderEvents', {}],
      [health, 'Watch', { service: '' }],
    ] as const) {
      const first = open(stub, method, request);
      open(stub, method, request);
      const serviceDefinition =
        stub === trading ? definition : protos.grpc.health.v1.Health.service;
      // Polled, not slept on: the engine counts a stream once its call arrives.
      const eventually = async (code: grpc.status) => {
        let last: grpc.status | undefined;
        for (const deadline = Date.now() + 5000; Date.now() < deadline; ) {
          last = await callAny(stub, serviceDefinition, method, token, request);
          if (last === code) break;
        }
        return last;
      };
      expect(await eventually(grpc.status.RESOURCE_EXHAUSTED)).toBe(grpc.status.RESOURCE_EXHAUSTED);
      // A closed stream makes room for another.
      first.cancel();
      expect(await eventually(grpc.status.OK)).toBe(grpc.status.OK);
    }
  });

  it('limits each client by its address and grant: 429 with Retry-After, RESOURCE_EXHAUSTED', async () => {
    const { engine: subject } = await engine({ RATE_LIMIT_PER_SECOND: '3' });
    const get = (authorization?: string) =>
      fetch(`http://127.0.0.1:${subject.ports.http}/api/v1/orders`, {
        headers: authorization ? { authorization } : {},
      });
    // A client's window opens with its first request and lasts a second: a
    // burst sent at once lands in it however busy the machine is.
    const burst = async (size: number, send: (i: number) => Promise<Response>) =>
      (await Promise.all(Array.from({ length: size }, (_, i) => send(i)))).sort(
        (a, b) => a.status - b.status,
      );
    const traded = await burst(5, () => get(bearer(TOKENS.trade)));
    expect(traded.map((response) => response.status)).toEqual([200, 200, 200, 429, 429]);
    expect(Number(traded[4]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The other grant has its own allowance.
    expect((await get(bearer(TOKENS.read))).status).toBe(200);
    // Guessing without a valid token is limited by address.
    const guesses = await burst(5, (i) => get(bearer(`guess-${i}`.repeat(8))));
    expect(guesses.map((response) => response.status)).toEqual([401, 401, 401, 429, 429]);
    // Health is never limited.
    for (let i = 0; i < 5; i++)
      expect((await fetch(`http://127.0.0.1:${subject.ports.http}/api/v1/health`)).status).toBe(
        200,
      );

    // gRPC draws on the same allowance: once the read grant's window has passed, a fresh burst.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const trading = client(subject, 'Trading');
    const definition = protos.tse.engine.v1.Trading.service;
    const codes = await Promise.all(
      Array.from({ length: 4 }, () =>
        callAny(trading, definition, 'ListOrders', bearer(TOKENS.read)),
      ),
    );
    expect(codes.sort()).toEqual(
      [grpc.status.OK, grpc.status.OK, grpc.status.OK, grpc.status.RESOURCE_EXHAUSTED].sort(),
    );
  });
});

describe('the log', () => {
  it('warns once at start when the API is open, and says nothing of it when tokens are set', async () => {
    const open = await engine({ API_TOKEN: '', API_READ_TOKEN: '' });
    const warnings = open.log.lines.filter((line) =>
      String(line.msg).includes('API_TOKEN is not set'),
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.level).toBe('warn');
    expect((await fetch(`http://127.0.0.1:${open.engine.ports.http}/api/v1/orders`)).status).toBe(
      200,
    );
    const closed = await engine();
    expect(closed.log.lines.some((line) => String(line.msg).includes('API_TOKEN'))).toBe(false);
  });

  it('never holds a token, however requests carry them', async () => {
    const { engine: subject, log } = await engine({ LOG_LEVEL: 'trace' });
    const wrong = 'wrong-token-that-must-not-be-logged-0123456789';
    const base = `http://127.0.0.1:${subject.ports.http}`;
    for (const token of [TOKENS.trade, TOKENS.read, wrong]) {
      await fetch(`${base}/api/v1/orders`, { headers: { authorization: bearer(token) } });
      await fetch(`${base}/api/v1/orders`, {
        method: 'POST',
        headers: { authorization: bearer(token), 'content-type': 'application/json' },
        body: '{"instrument_id":"BTC-USD","side":"buy","quantity":"1"}',
      });
      await fetch(`${base}/api/v1/orders`, {
        method: 'POST',
        headers: { authorization: bearer(token), 'content-type': 'application/json' },
        body: '{not json',
      });
      const trading = client(subject, 'Trading');
      await callAny(trading, protos.tse.engine.v1.Trading.service, 'PlaceOrder', bearer(token));
      await callAny(
        trading,
        protos.tse.engine.v1.Trading.service,
        'StreamOrderEvents',
        bearer(token),
      );
    }
    subject.logger.info(
      { config: subject.config },
      'configuration, as a careless line would log it',
    );
    const text = JSON.stringify(log.lines);
    expect(log.lines.length).toBeGreaterThan(3);
    for (const token of [TOKENS.trade, TOKENS.read, wrong]) expect(text).not.toContain(token);
  });
});

describe('the parts of a credential and a client', () => {
  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Bearer  abc ', 'abc'],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    ['Basic abc', undefined],
    ['abc', undefined],
  ])('reads the token of %j as %j', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });

  it.each([
    ['127.0.0.1:5123', '127.0.0.1'],
    ['ipv4:10.0.0.1:80', '10.0.0.1'],
    ['[::1]:5123', '::1'],
    ['ipv6:[fe80::1]:443', 'fe80::1'],
  ])('keys the peer %s by its address %s', (peer, address) => {
    expect(peerAddress(peer)).toBe(address);
  });
});
