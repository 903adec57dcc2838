import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Engine, startEngine } from '../src/engine.ts';
import { accessTable } from '../src/http/app.ts';
import { bearer, config, TOKENS } from './helpers.ts';

type Schema = Record<string, unknown>;
interface Operation {
  operationId?: string;
  security?: Record<string, string[]>[];
  requestBody?: { content: { 'application/json': { schema: Schema & { examples?: unknown[] } } } };
  responses: Record<string, { content?: { 'application/json': { schema: Schema } } }>;
}
interface Document {
  openapi: string;
  security: Record<string, string[]>[];
  components: { securitySchemes: Record<string, { type: string; scheme: string }> };
  paths: Record<string, Record<string, Operation>>;
}

const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });

/** Checks a value against a schema of the document; the errors, or [] when it conforms. */
function conformance(schema: Schema, value: unknown): unknown[] {
  const validate = ajv.compile(schema);
  return validate(value) ? [] : (validate.errors ?? []);
}

/**
 * The least value a schema describes: required properties only, the first of
 * an enum or of a union, the shortest string, the least positive number.
 */
function sample(schema: Schema): unknown {
  if (Array.isArray(schema.enum)) return schema.enum[0];
  if (Array.isArray(schema.anyOf)) return sample(schema.anyOf[0] as Schema);
  const type = [schema.type].flat()[0];
  if (type === 'object') {
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    const required = (schema.required ?? []) as string[];
    return Object.fromEntries(required.map((name) => [name, sample(properties[name] ?? {})]));
  }
  if (type === 'array')
    return Array.from({ length: Number(schema.minItems ?? 0) }, () =>
      sample((schema.items ?? {}) as Schema),
    );
  if (type === 'number' || type === 'integer') return Math.max(1, Number(schema.minimum ?? 1));
  if (type === 'string') return 'x'.repeat(Math.max(1, Number(schema.minLength ?? 1)));
  throw new Error(`no sample for ${JSON.stringify(schema)}`);
}

let engine: Engine;
let base: string;
let document: Document;
beforeAll(async () => {
  engine = await startEngine(config({ RATE_LIMIT_PER_SECOND: '0' }), { host: '127.0.0.1' });
  base = `http://127.0.0.1:${engine.ports.http}`;
  document = (await (await fetch(`${base}/api/v1/openapi.json`)).json()) as Document;
});
afterAll(async () => {
  await engine?.stop();
}, 30_000);

const operation = (path: string, method: string) => {
  const found = document.paths[path]?.[method];
  if (!found) throw new Error(`the document has no ${method} ${path}`);
  return found;
};
const jsonSchema = (answer: Operation['responses'][string] | undefined) => {
  const schema = answer?.content?.['application/json'].schema;
  if (!schema) throw new Error('the answer has no JSON schema');
  return schema;
};

describe('the OpenAPI document', () => {
  it('is served on the API port without a token, as JSON', async () => {
    const response = await fetch(`${base}/api/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(document.openapi).toBe('3.1.0');
    // Nothing of it is served on the management port.
    expect(
      (await fetch(`http://127.0.0.1:${engine.ports.management}/api/v1/openapi.json`)).status,
    ).toBe(404);
  });

  it('is a valid OpenAPI 3 document', async () => {
    const validated = await SwaggerParser.validate(structuredClone(document) as never);
    expect(validated).toHaveProperty('openapi', '3.1.0');
    // The validator does refuse a broken one: a path parameter nobody declares.
    const broken = structuredClone(document);
    broken.paths['/api/v1/orders/{order}'] = { get: { responses: { 200: {} } } };
    await expect(SwaggerParser.validate(broken as never)).rejects.toThrow(/order/);
  });

  it('declares the bearer scheme and requires it by default', () => {
    expect(document.components.securitySchemes.bearer).toMatchObject({
      type: 'http',
      scheme: 'bearer',
    });
    expect(document.security).toEqual([{ bearer: [] }]);
  });

  it('lists every route the app registered, with its grant, input and refusals', () => {
    // HEAD routes are fastify's twins of the GET routes; the document leaves them out.
    const routes = accessTable(engine.app).filter((route) => route.method !== 'HEAD');
    expect(routes.length).toBeGreaterThan(12);
    const documented = Object.entries(document.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(
      routes.map((route) => `${route.method} ${route.url.replaceAll(/:(\w+)/g, '{$1}')}`).sort(),
    );
    const operationIds = new Set<string>();
    for (const route of routes) {
      const path = route.url.replaceAll(/:(\w+)/g, '{$1}');
      const found = operation(path, route.method.toLowerCase());
      expect(found.operationId, `${route.method} ${path}`).toBeTruthy();
      operationIds.add(String(found.operationId));
      const codes = Object.keys(found.responses);
      if (!route.access) {
        expect(found.security, `${route.method} ${path}`).toEqual([]);
        expect(codes).not.toContain('401');
        continue;
      }
      expect(found.security, `${route.method} ${path}`).toEqual([{ bearer: [] }]);
      expect(codes, `${route.method} ${path}`).toEqual(expect.arrayContaining(['401', '429']));
      // Only the trading grant's routes can be refused to a valid (read) token, or take a body.
      if (route.access === 'trade')
        expect(codes, `${route.method} ${path}`).toEqual(
          expect.arrayContaining(['403', '413', '503']),
        );
      else expect(codes, `${route.method} ${path}`).not.toContain('403');
      const success = codes.find((code) => code.startsWith('2'));
      expect(jsonSchema(found.responses[success ?? '200']), `${route.method} ${path}`).toBeTruthy();
    }
    expect(operationIds.size).toBe(routes.length);
    for (const path of ['/api/v1/orders', '/api/v1/strategies', '/api/v1/market-data'])
      expect(operation(path, 'post').requestBody?.content['application/json'].schema).toBeTruthy();
  });

  it('describes requests the engine accepts and answers it gives: a placed order round-trips', async () => {
    const headers = { authorization: bearer(TOKENS.trade), 'content-type': 'application/json' };
    /** Sends a request to a documented path (`{id}` filled with `id`) and checks its answer against the document. */
    const send = async (path: string, method: string, body?: unknown, id = '') => {
      const documented = operation(path, method);
      const response = await fetch(`${base}${path.replace('{id}', id)}`, {
        method: method.toUpperCase(),
        headers,
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const answer = await response.json();
      expect(Object.keys(documented.responses)).toContain(String(response.status));
      expect(conformance(jsonSchema(documented.responses[response.status]), answer)).toEqual([]);
      return { status: response.status, answer };
    };
    // The bodies are built from the document's request schemas alone.
    const built = (path: string) => {
      const schema = operation(path, 'post').requestBody?.content['application/json'].schema ?? {};
      const body = sample(schema);
      expect(conformance(schema, body)).toEqual([]);
      return body;
    };
    expect((await send('/api/v1/market-data', 'post', built('/api/v1/market-data'))).status).toBe(
      200,
    );
    const placed = await send('/api/v1/orders', 'post', built('/api/v1/orders'));
    expect(placed.status).toBe(201);
    const id = (placed.answer as { order_id: string }).order_id;
    const fetched = await send('/api/v1/orders/{id}', 'get', undefined, id);
    expect(fetched).toEqual({ status: 200, answer: placed.answer });
    expect((await send('/api/v1/orders/{id}', 'get', undefined, 'no-such-order')).status).toBe(404);
    const listed = await send('/api/v1/orders', 'get');
    expect(
      (listed.answer as { orders: { order_id: string }[] }).orders.map((o) => o.order_id),
    ).toContain(id);
    // A body the schema refuses is refused by the engine too, with the documented error.
    const refused = await send('/api/v1/orders', 'post', {
      instrument_id: 'BTC-USD',
      side: 'hold',
    });
    expect(refused.status).toBe(400);
    expect((refused.answer as { message: string }).message).toMatch(/side/);
  });
});
