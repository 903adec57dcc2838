import { hostname } from 'node:os';
import { engineLockStatements, LOCK_NOT_AVAILABLE } from '@tse/adapter';
import pg from 'pg';
import type { Logger } from 'pino';
import type { EngineStatus } from '../status.ts';

/**
 * One engine per instance: the engine holds the lock of a table in its own
 * schema while it trades (see the adapter's `ENGINE_LOCK_TABLE`), in a
 * transaction its lock connection keeps open. An engine that cannot take it
 * is a hot standby: healthy and ready, refusing writes, trying again until
 * the lock is free. An engine that loses its connection loses the lock and
 * stands by too. The connection is named after the host (the pod), so the
 * operator can tell which pod is active.
 */
export class InstanceLock {
  private client: pg.Client | undefined;
  private held = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempting = false;
  private readonly url: string;
  private readonly statements: { create: string; take: string };
  private readonly status: EngineStatus;
  private readonly log: Logger;
  private readonly intervalMs: number;

  constructor(options: {
    url: string;
    schema: string;
    instance: string;
    status: EngineStatus;
    log: Logger;
    intervalMs?: number;
  }) {
    this.url = options.url;
    this.statements = engineLockStatements(options.schema);
    this.status = options.status;
    this.log = options.log;
    this.intervalMs = options.intervalMs ?? 1000;
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
    clearTimeout(this.timer);
    await this.client?.end().catch(() => {});
  }

  /** One try at the lock; never two at once, and the next one scheduled only here or by `lose`. */
  private async attempt(): Promise<void> {
    if (this.stopped || this.attempting) return;
    this.attempting = true;
    try {
      let client = this.client;
      if (!client) {
        const connecting = new pg.Client({
          connectionString: this.url,
          application_name: hostname().slice(0, 63),
          connectionTimeoutMillis: 3000,
        });
        // Only the current connection's end matters; a failed attempt's late events do not.
        connecting.on(
          'error',
          () => this.client === connecting && this.lose('the lock connection failed'),
        );
        connecting.on(
          'end',
          () => this.client === connecting && this.lose('the lock connection closed'),
        );
        try {
          await connecting.connect();
        } catch (error) {
          connecting.end().catch(() => {});
          throw error;
        }
        client = connecting;
        this.client = client;
      }
      if (await this.take(client)) {
        this.held = true;
        this.status.activate();
        this.log.info('holding the instance lock: trading');
      } else {
        this.status.standBy('another engine holds the lock of this instance; standing by');
      }
    } catch (error) {
      this.status.standBy(`standing by: ${(error as Error).message}`);
    } finally {
      this.attempting = false;
      if (!this.held) this.schedule();
    }
  }

  /** Takes the lock in a transaction left open; false when another engine holds it. */
  private async take(client: pg.Client): Promise<boolean> {
    await client.query(this.statements.create);
    await client.query('BEGIN');
    try {
      // The lock is held for as long as the session lives: no timeout may end it.
      await client.query('SET LOCAL idle_in_transaction_session_timeout = 0');
      await client.query(this.statements.take);
      return true;
    } catch (error) {
      await client.query('ROLLBACK');
      if ((error as { code?: string }).code === LOCK_NOT_AVAILABLE) return false;
      throw error;
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), this.intervalMs);
    this.timer.unref();
  }

  private lose(reason: string): void {
    const client = this.client;
    this.client = undefined;
    client?.end().catch(() => {});
    if (this.held) this.log.warn({ reason }, 'lost the instance lock: standing by');
    this.held = false;
    if (this.stopped) return;
    this.status.standBy(`standing by: ${reason}`);
    this.schedule();
  }
}
