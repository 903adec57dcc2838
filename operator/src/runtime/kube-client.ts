import http from 'node:http';
import https from 'node:https';
import type { WriteFence } from '@tse/adapter';
import type { ClusterAccess } from './kubeconfig.ts';

/** A request the API server answered with an error status; `body` is its Status object. */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  /** The HTTP status: 404, 409, 410, 422, ... */
  readonly code: number;
  readonly body: unknown;

  constructor(code: number, body: unknown, what: string) {
    const said = (body as { message?: unknown } | undefined)?.message;
    super(`${what}: HTTP ${code}${typeof said === 'string' ? `: ${said}` : ''}`);
    this.code = code;
    this.body = body;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  /** Aborts the request (it then rejects). */
  signal?: AbortSignal;
  body?: unknown;
  /** Defaults to application/json when there is a body. */
  contentType?: string;
  /** Overrides the client's request timeout (ms). */
  timeoutMs?: number;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchOptions {
  query: Query;
  signal: AbortSignal;
  /** Called once the API server has accepted the watch (HTTP 200). */
  established(): void;
  onEvent(type: WatchEventType, object: unknown): void;
  /** The connection is dropped after this long without a byte (ms). */
  idleTimeoutMs: number;
}

const USER_AGENT = 'trading-engine-operator';
/** The most of an answer held in memory: a LIST page of 500 large objects fits. */
const MAX_ANSWER_BYTES = 256 * 1024 * 1024;
/** The longest watch event accepted: an object is at most about 1.5 MB in etcd. */
const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;
/** How long a watch waits for the API server's answer (connect, TLS, headers), as client-go's TLS handshake timeout. */
const WATCH_ANSWER_TIMEOUT_MS = 10_000;

/**
 * The operator's Kubernetes client: JSON over HTTPS with keep-alive, the
 * credentials of a kubeconfig or service account, a timeout on every
 * request and streaming watches. Deliberately small: the operator reads
 * and writes plain JSON objects, so no generated models are loaded (they
 * cost about 90 MB of memory) and nothing is converted on the way.
 */
export class KubeClient {
  private readonly access: ClusterAccess;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;
  readonly requestTimeoutMs: number;

  private readonly fence: WriteFence | undefined;

  /** `fence`: asked right before each request that is not a GET is sent (and sent again). */
  constructor(access: ClusterAccess, options: { requestTimeoutMs: number; fence?: WriteFence }) {
    this.access = access;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.fence = options.fence;
    const secure = access.server.startsWith('https:');
    this.transport = secure ? https : http;
    this.agent = secure
      ? new https.Agent({ keepAlive: true, ...access.tls })
      : new http.Agent({ keepAlive: true });
  }

  /** Sends one request and returns the parsed answer; an error status throws a {@link KubeApiError}. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const what = `${method} ${path}`;
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    for (let attempt = 0; ; attempt++) {
      const headers = await this.headers(
        payload === undefined
          ? {}
          : {
              'content-type': options.contentType ?? 'application/json',
              'content-length': String(Buffer.byteLength(payload)),
            },
      );
      if (method !== 'GET') this.fence?.(what);
      const response = await exchange(this.transport, this.url(path, options.query), {
        method,
        headers,
        agent: this.agent,
        payload,
        timeoutMs: options.timeoutMs ?? this.requestTimeoutMs,
        signal: options.signal,
        what,
      });
      // A token that expired or rotated since it was read: read it again, once.
      if (response.status === 401 && attempt === 0 && this.access.invalidate()) continue;
      let body: unknown;
      try {
        body = response.text ? JSON.parse(response.text) : undefined;
      } catch {
        // A proxy's HTML error page, say: the status still tells what happened.
        if (response.status >= 400) throw new KubeApiError(response.status, undefined, what);
        throw new Error(`${what}: the answer is not JSON`);
      }
      if (response.status >= 400) throw new KubeApiError(response.status, body, what);
      return body as T;
    }
  }

  /**
   * Opens a watch and calls `onEvent` for each event until the API server
   * ends it (resolves), the signal aborts it (resolves) or it fails
   * (rejects; an error status as a {@link KubeApiError}). An `onEvent` that
   * throws ends the watch with that error.
   */
  async watch(path: string, options: WatchOptions): Promise<void> {
    if (options.signal.aborted) return;
    const headers = await this.headers({});
    const url = this.url(path, { ...options.query, watch: true });
    const what = `watch ${path}`;
    const { signal, established, onEvent, idleTimeoutMs } = options;
    return new Promise((resolve, reject) => {
      // Let go of everything once settled (see `exchange`).
      let settle: ((error?: Error) => void) | undefined = (error) =>
        error ? reject(error) : resolve();
      const done = (error?: Error) => {
        const settled = settle;
        settle = undefined;
        signal.removeEventListener('abort', abort);
        settled?.(signal.aborted ? undefined : error);
      };
      const request = this.transport.request(url, { method: 'GET', headers, agent: this.agent });
      request.on('error', done);
      const abort = () => {
        request.destroy();
        done();
      };
      signal.addEventListener('abort', abort);
      // Until the API server answers, a short timeout applies: a proxy or load balancer
      // may accept a connection it cannot serve. Then the idle timeout.
      let waitingMs = Math.min(WATCH_ANSWER_TIMEOUT_MS, idleTimeoutMs);
      request.setTimeout(waitingMs, () =>
        request.destroy(new Error(`${what}: nothing received for ${waitingMs} ms`)),
      );
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          collect(response, MAX_ANSWER_BYTES, what).then((text) => {
            if (status === 401) this.access.invalidate();
            done(new KubeApiError(status, parseOrUndefined(text), what));
          }, done);
          return;
        }
        waitingMs = idleTimeoutMs;
        request.setTimeout(waitingMs);
        established();
        const lines = new LineSplitter(MAX_WATCH_LINE_BYTES, what);
        response.on('data', (chunk: Buffer) => {
          try {
            for (const line of lines.push(chunk)) {
              const event = JSON.parse(line) as { type: WatchEventType; object: unknown };
              onEvent(event.type, event.object);
            }
          } catch (error) {
            // A line too long or not JSON, or an event refused: this watch is over.
            response.destroy();
            done(error as Error);
          }
        });
        response.on('end', () => done());
        response.on('error', done);
        // A connection lost (the API server or a proxy gone) may close the stream without an error.
        response.on('close', () =>
          done(response.complete ? undefined : new Error(`${what}: connection closed`)),
        );
      });
      request.end();
    });
  }

  /** Closes the client's connections (requests still running fail). */
  close(): void {
    this.agent.destroy();
  }

  private async headers(extra: Record<string, string>): Promise<http.OutgoingHttpHeaders> {
    const token = await this.access.token();
    const as = this.access.impersonate;
    return {
      accept: 'application/json',
      'user-agent': USER_AGENT,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(as ? { 'impersonate-user': as.user } : {}),
      ...(as?.groups.length ? { 'impersonate-group': as.groups } : {}),
      ...extra,
    };
  }

  private url(path: string, query: Query | undefined): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {}))
      if (value !== undefined) search.set(key, String(value));
    const suffix = search.size ? `?${search}` : '';
    return `${this.access.server.replace(/\/$/, '')}${path}${suffix}`;
  }
}

/** The parts of a request an exchange needs, and nothing else for its closures to keep. */
interface Exchange {
  method: string;
  headers: http.OutgoingHttpHeaders;
  agent: http.Agent;
  payload: string | undefined;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  what: string;
}

/**
 * One request and its whole answer. Everything is let go once it has
 * settled: Node's HTTPS agent keeps the first request of each pooled
 * connection reachable for the connection's life (a session-cache listener
 * shares a closure with the connection callback), and with it whatever its
 * listeners still refer to. So the listeners here see only this function's
 * own variables, cleared on settling.
 */
function exchange(
  transport: typeof http | typeof https,
  url: string,
  parts: Exchange,
): Promise<{ status: number; text: string }> {
  const { method, headers, agent, timeoutMs, signal, what } = parts;
  let payload = parts.payload;
  return new Promise((resolve, reject) => {
    let settle: ((outcome: Error | { status: number; text: string }) => void) | undefined = (
      outcome,
    ) => (outcome instanceof Error ? reject(outcome) : resolve(outcome));
    const done = (outcome: Error | { status: number; text: string }) => {
      const settled = settle;
      settle = undefined;
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      settled?.(outcome);
    };
    const request = transport.request(url, { method, headers, agent });
    request.on('error', done);
    const timer = setTimeout(() => {
      request.destroy();
      done(new Error(`${what}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    const abort = () => {
      request.destroy();
      done(new Error(`${what}: aborted`));
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort);
    request.on('response', (response) => {
      collect(response, MAX_ANSWER_BYTES, what).then(
        (text) => done({ status: response.statusCode ?? 0, text }),
        done,
      );
    });
    request.end(payload);
    payload = undefined;
  });
}

/** A response's body as text, refused past `limit` bytes; a connection lost mid-answer rejects. */
function collect(response: http.IncomingMessage, limit: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      chunks = [];
      response.destroy();
      reject(new Error(`${what}: the answer is larger than ${limit} bytes`));
    });
    response.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      chunks = [];
      resolve(text);
    });
    response.on('error', reject);
    // A connection lost mid-answer may close without an error: never wait for the timeout.
    response.on('close', () => {
      if (!response.complete) reject(new Error(`${what}: connection closed mid-answer`));
    });
  });
}

const parseOrUndefined = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/**
 * Splits a stream into lines, looking for the newline only in each new chunk
 * (so a long line costs its length once, not once per chunk), and refusing a
 * line longer than `limit` bytes.
 */
export class LineSplitter {
  private pieces: Buffer[] = [];
  private pending = 0;
  private readonly limit: number;
  private readonly what: string;

  constructor(limit: number, what: string) {
    this.limit = limit;
    this.what = what;
  }

  /** The complete, non-empty lines this chunk ends. */
  push(chunk: Buffer): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
      this.pieces.push(chunk.subarray(start, end));
      const line = Buffer.concat(this.pieces).toString('utf8');
      this.pieces = [];
      this.pending = 0;
      if (line) lines.push(line);
      start = end + 1;
    }
    if (start < chunk.length) {
      this.pending += chunk.length - start;
      if (this.pending > this.limit)
        throw new Error(`${this.what}: an event longer than ${this.limit} bytes`);
      this.pieces.push(chunk.subarray(start));
    }
    return lines;
  }
}
