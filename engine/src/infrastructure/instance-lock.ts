import { hostname } from 'node:os';
import { engineLockStatements, postgresConnection, type StoreTls } from '@tse/adapter';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EngineStatus } from '../status.ts';

/**
 * One engine per instance: the engine holds the lock of a table in its own
 * schema while it trades (the adapter's `ENGINE_LOCK_TABLE`), in a
 * transaction its lock connection keeps open. Another engine of the instance
 * is a hot standby: healthy and ready, refusing writes, queued on the lock so
 * that it takes over the moment the lock frees.
 *
 * The lock connection is named after the host (the pod), so the operator can
 * tell which pod trades. While active the engine checks the connection every
 * few seconds (and TCP keepalive watches it): a connection that is gone means
 * the lock may be someone else's, so the engine stops trading at once and
 * calls `onLost` - the process exits and is restarted, as a leader does when
 * it loses its lease. A standby that loses its connection just queues again.
 */
export class InstanceLock {
  private client: pg.Client | undefined;
  private held = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempting = false;
  private readonly url: string;
  private readonly tls: StoreTls | undefined;
  private readonly statements: { create: string; take: string };
  private readonly status: EngineStatus;
  private readonly log: Logger;
  private readonly retryMs: number;
  private readonly heartbeatMs: number;
  private readonly onLost: (reason: string) => void;

  constructor(options: {
    url: string;
    /** TLS as the URL says by default. */
    tls?: StoreTls;
    schema: string;
    instance: string;
    status: EngineStatus;
    log: Logger;
    /** Called once when a lock this engine traded under is lost. */
    onLost: (reason: string) => void;
    retryMs?: number;
    heartbeatMs?: number;
  }) {
    this.url = options.url;
    this.tls = options.tls;
    this.statements = engineLockStatements(options.schema);
    this.status = options.status;
    this.log = options.log;
    this.onLost = options.onLost;
    this.retryMs = options.retryMs ?? 1000;
    this.heartbeatMs = options.heartbeatMs ?? 3000;
    this.status.standBy(
      `waiting for the lock of instance ${options.instance} (one engine trades per instance)`,
    );
  }

  start(): void {
    void this.attempt();
  }

  isHeld(): boolean {
    return this.held;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    await this.client?.end().catch(() => {});
  }

  /** Connects and queues on the lock; never two attempts at once. */
  private async attempt(): Promise<void> {
    if (this.stopped || this.attempting) return;
    this.attempting = true;
    try {
      const client = await this.connect();
      this.status.standBy('another engine holds the lock of this instance; standing by');
      await client.query(this.statements.create);
      await client.query('BEGIN');
      // The lock is held for as long as the session lives: no timeout may end it.
      await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      await client.query('SET LOCAL lock_timeout = 0');
      // Waits in the lock's queue until the engine ahead of it goes.
      await client.query(this.statements.take);
      if (this.stopped || this.client !== client) return;
      this.held = true;
      this.status.activate();
      this.log.info('holding the instance lock: trading');
      this.heartbeat = setInterval(() => void this.check(client), this.heartbeatMs);
      this.heartbeat.unref();
    } catch (error) {
      if (!this.stopped) this.lose(`standing by: ${(error as Error).message}`);
    } finally {
      this.attempting = false;
    }
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      ...postgresConnection(this.url, this.tls),
      application_name: hostname().slice(0, 63),
      connectionTimeoutMillis: 3000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 5000,
    });
    // Only the current connection's end matters; a failed attempt's late events do not.
    client.on('error', () => this.client === client && this.lose('the lock connection failed'));
    client.on('end', () => this.client === client && this.lose('the lock connection closed'));
    this.client = client;
    try {
      await client.connect();
    } catch (error) {
      this.client = undefined;
      client.end().catch(() => {});
      throw error;
    }
    return client;
  }

  /** The active engine's heartbeat: a connection that does not answer may have lost the lock. */
  private async check(client: pg.Client): Promise<void> {
    try {
      await Promise.race([
        client.query('SELECT 1'),
        new Promise((_, reject) =>
          setTimeout(
            () => reject(new Error(`no answer in ${this.heartbeatMs} ms`)),
            this.heartbeatMs,
          ).unref(),
        ),
      ]);
    } catch (error) {
      if (this.client === client)
        this.lose(`the lock connection does not answer: ${(error as Error).message}`);
    }
  }

  private lose(reason: string): void {
    const client = this.client;
    this.client = undefined;
    clearInterval(this.heartbeat);
    client?.end().catch(() => {});
    const wasActive = this.held;
    this.held = false;
    if (this.stopped) return;
    this.status.standBy(reason);
    if (wasActive) {
      this.log.error({ reason }, 'lost the instance lock: no longer trading');
      this.onLost(reason);
      return;
    }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.attempt(), this.retryMs);
    this.retryTimer.unref();
  }
}
