import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NotLeadingError, writeFence } from '../src/runtime/fence.ts';
import { KubeApiError, KubeClient, LineSplitter } from '../src/runtime/kube-client.ts';
import type { ClusterAccess } from '../src/runtime/kubeconfig.ts';

// A local HTTP server stands in for the network only: what the client sends and
// how it reads answers. The API server's semantics are tested against a real one.
let server: Server | undefined;
const sockets: Socket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function serve(handler: (request: IncomingMessage, response: ServerResponse) => void) {
  server = createServer(handler);
  server.on('connection', (socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

function access(url: string, tokens: string[] = []): ClusterAccess & { invalidated: number } {
  let current = 0;
  return {
    server: url,
    tls: { rejectUnauthorized: true },
    invalidated: 0,
    token: async () => tokens[current],
    invalidate() {
      this.invalidated++;
      current++;
      return true;
    },
  };
}

describe('KubeClient writes once leadership is gone', () => {
  it('sends reads, and refuses each write right before it would be sent, a resend too', async () => {
    let leads = true;
    const seen: string[] = [];
    const url = await serve((request, response) => {
      seen.push(`${request.method} ${request.url}`);
      // The first write is answered 401 and leadership goes meanwhile: its resend is refused.
      if (seen.length === 2) {
        leads = false;
        response.writeHead(401).end('{}');
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    const client = new KubeClient(access(url, ['a', 'b']), {
      requestTimeoutMs: 1000,
      fence: writeFence(() => leads),
    });
    await client.request('GET', '/api/v1/pods');
    await expect(client.request('PATCH', '/api/v1/pods/p', { body: {} })).rejects.toThrow(
      NotLeadingError,
    );
    await expect(client.request('POST', '/api/v1/events', { body: {} })).rejects.toThrow(
      'POST /api/v1/events not sent',
    );
    await client.request('GET', '/api/v1/pods');
    expect(seen).toEqual(['GET /api/v1/pods', 'PATCH /api/v1/pods/p', 'GET /api/v1/pods']);
    client.close();
  });
});

describe('KubeClient requests', () => {
  it('gives up on an API server that accepts the connection and never answers', async () => {
    const url = await serve(() => {});
    const client = new KubeClient(access(url), { requestTimeoutMs: 300 });
    const started = Date.now();
    await expect(client.request('GET', '/api/v1/namespaces')).rejects.toThrow(
      'GET /api/v1/namespaces: no answer within 300 ms',
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    client.close();
  });

  it('sends the body, content type, query and token, and parses the answer', async () => {
    let seen: {
      method?: string;
      url?: string;
      headers?: IncomingMessage['headers'];
      body?: string;
    } = {};
    const url = await serve((request, response) => {
      let body = '';
      request.on('data', (chunk) => (body += chunk));
      request.on('end', () => {
        seen = { method: request.method, url: request.url, headers: request.headers, body };
        response.end(JSON.stringify({ kind: 'Secret', metadata: { name: 's' } }));
      });
    });
    const client = new KubeClient(access(url, ['t0']), { requestTimeoutMs: 5000 });
    const answer = await client.request('PATCH', '/api/v1/namespaces/a/secrets/s', {
      body: { metadata: { name: 's' } },
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: 'me', force: true, skipped: undefined },
    });
    expect(answer).toEqual({ kind: 'Secret', metadata: { name: 's' } });
    expect(seen.method).toBe('PATCH');
    expect(seen.url).toBe('/api/v1/namespaces/a/secrets/s?fieldManager=me&force=true');
    expect(seen.headers?.['content-type']).toBe('application/apply-patch+yaml');
    expect(seen.headers?.authorization).toBe('Bearer t0');
    expect(JSON.parse(seen.body ?? '')).toEqual({ metadata: { name: 's' } });
    client.close();
  });

  it('sends impersonation headers, one per group', async () => {
    let raw: string[] = [];
    const url = await serve((request, response) => {
      raw = request.rawHeaders;
      response.end('{}');
    });
    const client = new KubeClient(
      { ...access(url), impersonate: { user: 'someone', groups: ['g1', 'g2'] } },
      { requestTimeoutMs: 5000 },
    );
    await client.request('GET', '/x');
    const named = (header: string) =>
      raw.filter((_, i) => i % 2 === 1 && raw[i - 1]?.toLowerCase() === header);
    expect(named('impersonate-user')).toEqual(['someone']);
    expect(named('impersonate-group')).toEqual(['g1', 'g2']);
    client.close();
  });

  it("throws the API server's Status as a KubeApiError with the HTTP code", async () => {
    const url = await serve((_, response) => {
      response.statusCode = 409;
      response.end(
        JSON.stringify({ kind: 'Status', message: 'the object has been modified', code: 409 }),
      );
    });
    const client = new KubeClient(access(url), { requestTimeoutMs: 5000 });
    const error = await client.request('PUT', '/x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).code).toBe(409);
    expect((error as KubeApiError).message).toBe('PUT /x: HTTP 409: the object has been modified');
    expect((error as KubeApiError).body).toMatchObject({ kind: 'Status' });
    client.close();
  });

  it('reads the token again once after a 401 (a rotated token), and not more', async () => {
    const tokens: (string | undefined)[] = [];
    const url = await serve((request, response) => {
      tokens.push(request.headers.authorization);
      response.statusCode = request.headers.authorization === 'Bearer new' ? 200 : 401;
      response.end('{}');
    });
    const rotated = access(url, ['old', 'new']);
    const client = new KubeClient(rotated, { requestTimeoutMs: 5000 });
    await expect(client.request('GET', '/x')).resolves.toEqual({});
    expect(tokens).toEqual(['Bearer old', 'Bearer new']);
    const refused = access(url, ['bad', 'worse']);
    const other = new KubeClient(refused, { requestTimeoutMs: 5000 });
    await expect(other.request('GET', '/x')).rejects.toMatchObject({ code: 401 });
    expect(refused.invalidated).toBe(1);
    client.close();
    other.close();
  });
});

describe('KubeClient watches', () => {
  it('parses events split across chunks, says when it is established, and ends with the stream', async () => {
    let query = '';
    const url = await serve((request, response) => {
      query = request.url ?? '';
      response.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
      setTimeout(() => {
        response.write('IFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}}\n');
        response.end('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"3"}}}\n');
      }, 20);
    });
    const client = new KubeClient(access(url), { requestTimeoutMs: 5000 });
    const events: [string, unknown][] = [];
    let established = false;
    await client.watch('/api/v1/pods', {
      query: { resourceVersion: '1', allowWatchBookmarks: true },
      signal: new AbortController().signal,
      idleTimeoutMs: 5000,
      established: () => (established = true),
      onEvent: (type, object) => events.push([type, object]),
    });
    expect(established).toBe(true);
    expect(query).toBe('/api/v1/pods?resourceVersion=1&allowWatchBookmarks=true&watch=true');
    expect(events.map(([type]) => type)).toEqual(['ADDED', 'MODIFIED', 'BOOKMARK']);
    expect(events[1]?.[1]).toEqual({ metadata: { name: 'a', resourceVersion: '2' } });
    client.close();
  });

  it('rejects a watch the API server refuses (410 Gone) without calling it established', async () => {
    const url = await serve((_, response) => {
      response.statusCode = 410;
      response.end(
        JSON.stringify({ kind: 'Status', code: 410, message: 'too old resource version' }),
      );
    });
    const client = new KubeClient(access(url), { requestTimeoutMs: 5000 });
    let established = false;
    const error = await client
      .watch('/api/v1/pods', {
        query: {},
        signal: new AbortController().signal,
        idleTimeoutMs: 5000,
        established: () => (established = true),
        onEvent: () => {},
      })
      .catch((e: unknown) => e);
    expect((error as KubeApiError).code).toBe(410);
    expect(established).toBe(false);
    client.close();
  });

  it('drops a watch on which nothing arrives for its idle timeout, and resolves when aborted', async () => {
    const url = await serve((_, response) => response.write(''));
    const client = new KubeClient(access(url), { requestTimeoutMs: 5000 });
    const idle = client.watch('/api/v1/pods', {
      query: {},
      signal: new AbortController().signal,
      idleTimeoutMs: 200,
      established: () => {},
      onEvent: () => {},
    });
    await expect(idle).rejects.toThrow('nothing received for 200 ms');
    const abort = new AbortController();
    const aborted = client.watch('/api/v1/pods', {
      query: {},
      signal: abort.signal,
      idleTimeoutMs: 60_000,
      established: () => abort.abort(),
      onEvent: () => {},
    });
    await expect(aborted).resolves.toBeUndefined();
    client.close();
  });
});

describe('KubeClient answers', () => {
  it("keeps the status of an error page that is not JSON (a proxy's), and does not retry a fixed token's 401", async () => {
    let calls = 0;
    const url = await serve((request, response) => {
      calls++;
      response.statusCode = request.url === '/proxy' ? 502 : 401;
      response.end('<html>bad gateway</html>');
    });
    const fixed = { ...access(url, ['t']), invalidate: () => false };
    const client = new KubeClient(fixed, { requestTimeoutMs: 5000 });
    await expect(client.request('GET', '/proxy')).rejects.toMatchObject({ code: 502 });
    calls = 0;
    await expect(client.request('GET', '/x')).rejects.toMatchObject({ code: 401 });
    expect(calls).toBe(1);
    client.close();
  });
});

describe('LineSplitter', () => {
  it('splits lines across chunks and refuses a line past its limit', () => {
    const lines = new LineSplitter(10, 'watch');
    expect(lines.push(Buffer.from('ab'))).toEqual([]);
    expect(lines.push(Buffer.from('c\nde\n\nf'))).toEqual(['abc', 'de']);
    expect(lines.push(Buffer.from('g\n'))).toEqual(['fg']);
    expect(() => lines.push(Buffer.from('x'.repeat(11)))).toThrow('an event longer than 10 bytes');
  });
});
