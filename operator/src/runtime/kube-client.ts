import http from 'node:http';
import https from 'node:https';
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

  constructor(access: ClusterAccess, options: { requestTimeoutMs: number }) {
    this.access = access;
    this.requestTimeoutMs = options.requestTimeoutMs;
    const secure = access.server.startsWith('https:');
    this.transport = secure ? https : http;
    this.agent = secure
      ? new https.Agent({ keepAlive: true, ...access.tls })
      : new http.Agent({ keepAlive: true });
  }

  /** Sends one request and returns the parsed answer; an error status throws a {@link KubeApiError}. */
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const what = `${method} ${path}`;
    for (let attempt = 0; ; attempt++) {
      const response = await this.send(method, path, options);
      // A token that expired or rotated since it was read: read it again, once.
      if (response.status === 401 && attempt === 0) {
        this.access.invalidate();
        continue;
      }
      const body = response.text ? JSON.parse(response.text) : undefined;
      if (response.status >= 400) throw new KubeApiError(response.status, body, what);
      return body as T;
    }
  }

  private async send(
    method: string,
    path: string,
    options: RequestOptions,
  ): Promise<{ status: number; text: string }> {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = await this.headers(
      payload === undefined
        ? {}
        : {
            'content-type': options.contentType ?? 'application/json',
            'content-length': String(Buffer.byteLength(payload)),
          },
    );
    const timeoutMs = options.timeoutMs ?? this.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      // Everything a request holds is let go once it has settled: Node's HTTPS agent
      // keeps the first request of each pooled connection reachable for the
      // connection's life, and with it whatever its listeners still refer to.
      let chunks: Buffer[] = [];
      let settle: ((outcome: Error | { status: number; text: string }) => void) | undefined = (
        outcome,
      ) => (outcome instanceof Error ? reject(outcome) : resolve(outcome));
      const done = (outcome: Error | { status: number; text: string }) => {
        const settled = settle;
        settle = undefined;
        chunks = [];
        clearTimeout(timer);
        settled?.(outcome);
      };
      const request = this.transport.request(
        this.url(path, options.query),
        { method, headers, agent: this.agent },
        (response) => {
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            done({
              status: response.statusCode ?? 0,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          response.on('error', done);
          // A connection lost mid-answer may close without an error: never wait for the timeout.
          response.on('close', () => {
            if (!response.complete)
              done(new Error(`${method} ${path}: connection closed mid-answer`));
          });
        },
      );
      const timer = setTimeout(() => {
        request.destroy();
        done(new Error(`${method} ${path}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      request.on('error', done);
      request.end(payload);
    });
  }

  /**
   * Opens a watch and calls `onEvent` for each event until the API server
   * ends it (resolves), the signal aborts it (resolves) or it fails
   * (rejects; an error status as a {@link KubeApiError}).
   */
  async watch(path: string, options: WatchOptions): Promise<void> {
    const headers = await this.headers({});
    const query = { ...options.query, watch: true };
    return new Promise((resolve, reject) => {
      // Let go of everything once settled (see `send`).
      let settle: ((error?: Error) => void) | undefined = (error) =>
        error ? reject(error) : resolve();
      const done = (error?: Error) => {
        const settled = settle;
        settle = undefined;
        options.signal.removeEventListener('abort', abort);
        settled?.(options.signal.aborted ? undefined : error);
      };
      const abort = () => {
        request.destroy();
        done();
      };
      const request = this.transport.request(
        this.url(path, query),
        { method: 'GET', headers, agent: this.agent },
        (response) => {
          const status = response.statusCode ?? 0;
          if (status !== 200) {
            let chunks: Buffer[] = [];
            response.on('data', (chunk: Buffer) => chunks.push(chunk));
            response.on('end', () => {
              if (status === 401) this.access.invalidate();
              let body: unknown;
              try {
                body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              } catch {
                body = undefined;
              }
              chunks = [];
              done(new KubeApiError(status, body, `watch ${path}`));
            });
            return;
          }
          waitingMs = options.idleTimeoutMs;
          request.setTimeout(waitingMs);
          options.established();
          let partial = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            const lines = (partial + chunk).split('\n');
            partial = lines.pop() ?? '';
            try {
              for (const line of lines) {
                if (!line) continue;
                const event = JSON.parse(line) as { type: WatchEventType; object: unknown };
                options.onEvent(event.type, event.object);
              }
            } catch (error) {
              // A line that is not JSON, or a handler that refused an event: this watch is over.
              request.destroy(error as Error);
            }
          });
          response.on('end', () => done());
          response.on('error', done);
          // A connection lost (the API server or a proxy gone) may close the stream without an error.
          response.on('close', () =>
            done(response.complete ? undefined : new Error(`watch ${path}: connection closed`)),
          );
        },
      );
      if (options.signal.aborted) return abort();
      options.signal.addEventListener('abort', abort);
      // Until the API server answers, a short timeout applies: a proxy or load balancer
      // may accept a connection it cannot serve. Then the idle timeout.
      let waitingMs = Math.min(WATCH_ANSWER_TIMEOUT_MS, options.idleTimeoutMs);
      request.setTimeout(waitingMs, () =>
        request.destroy(new Error(`watch ${path}: nothing received for ${waitingMs} ms`)),
      );
      request.on('error', done);
      request.end();
    });
  }

  /** Closes idle keep-alive connections. */
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
