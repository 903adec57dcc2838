import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchema } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Grant } from '../access/auth.ts';
import { HTTP_BODY_LIMIT_BYTES } from '../access/limits.ts';

/** Where the API's port serves its OpenAPI document; like health, without a token. */
export const OPENAPI_PATH = '/api/v1/openapi.json';

/** The name of the bearer scheme in the document's securitySchemes. */
export const BEARER_SCHEME = 'bearer';

/** The body of every error answer. */
export const apiError = z.object({
  error: z.string().describe('the HTTP status text, e.g. "Bad Request"'),
  message: z.string().describe('what was wrong, naming the field'),
  field: z.string().optional().describe('the field at fault, when one is'),
  code: z.string().optional().describe('a stable code for a refused domain operation'),
});

const failure = (description: string) => apiError.describe(description);

/**
 * The error answers a route can get: from its input's validation, the guard
 * and the limits (by the grant it needs), and the refusals of writes.
 */
export function errorResponses(
  schema: FastifySchema,
  access: Grant | undefined,
  method: string,
  url: string,
) {
  const writes = method !== 'GET' && method !== 'HEAD';
  return {
    ...(Boolean(schema.body || schema.querystring || schema.params) && {
      400: failure('the input is invalid; the message names each field at fault'),
    }),
    ...(access && refusals(access, writes)),
    ...(url.includes(':id') && { 404: failure('no record has this id') }),
    ...(writes &&
      access && {
        409: failure('the operation conflicts with the state or the risk limits (see code)'),
        503: failure('writes are refused: PostgreSQL is unavailable or this engine stands by'),
      }),
  };
}

function refusals(access: Grant, writes: boolean) {
  return {
    401: failure('no token, or not a token of this instance (WWW-Authenticate: Bearer)'),
    ...(access === 'trade' && {
      403: failure('the read-only token was presented; this operation needs the trading token'),
    }),
    ...(writes && { 413: failure(`the body is over ${HTTP_BODY_LIMIT_BYTES} bytes`) }),
    429: failure('too many requests from this client; see the Retry-After header (seconds)'),
  };
}

/** A route's schema with its security requirement (none for public routes) and its error answers added. */
export function documented(
  schema: FastifySchema | undefined,
  access: Grant | undefined,
  method: string,
  url: string,
): FastifySchema {
  const given = (schema ?? {}) as FastifySchema & { response?: Record<string, unknown> };
  const errors = errorResponses(given, access, method, url);
  return {
    ...given,
    security: access ? [{ [BEARER_SCHEME]: [] }] : [],
    ...(Object.keys(errors).length > 0 && { response: { ...errors, ...given.response } }),
  } as FastifySchema;
}

/**
 * Registers @fastify/swagger, which collects every route registered after it,
 * turning their zod schemas into JSON Schema (input side for requests, output
 * side for answers), and serves the document at OPENAPI_PATH.
 */
export async function openapi(app: FastifyInstance, version: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Trading engine API',
        version,
        description:
          'The trading API of one engine instance. Every route but health and this document ' +
          'needs `Authorization: Bearer <token>`: the read token for GET, the trading token ' +
          'for everything. Tokens are in the instance Secret `<name>-credentials` ' +
          '(keys `api-token`, `api-read-token`). See docs/api.md.',
      },
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: {
            type: 'http',
            scheme: 'bearer',
            description: 'api-token (trading) or api-read-token (read-only) of the instance',
          },
        },
      },
      security: [{ [BEARER_SCHEME]: [] }],
    },
    transform: jsonSchemaTransform,
  });
  app.get(
    OPENAPI_PATH,
    {
      schema: {
        summary: 'This document (OpenAPI 3.1)',
        operationId: 'getOpenApi',
        tags: ['meta'],
      },
    },
    async () => app.swagger(),
  );
}
