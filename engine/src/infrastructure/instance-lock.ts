import pg from 'pg';
import type { Logger } from 'pino';
import type { EngineStatus } from '../status.ts';

const GATE = 'standby';

/**
 * One engine per instance: the engine holds a PostgreSQL advisory lock named
 * after its schema while it trades. An engine that cannot take it stands by
 * (not ready, refusing writes) and tries again until the lock is free; an
 * engine that loses its connection loses the lock and stands by too.
 */
export class InstanceLock {
  private client: pg.Client | undefined;
  private held = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private attempting = false;
  private readonly url: string;
  private readonly key: string;
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
    this.key = `trading-engine:${options.schema}`;
    this.status = options.status;
    this.log = options.log;
    this.intervalMs = options.intervalMs ?? 1000;
    this.status.hold(
      GATE,
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
          application_name: 'trading-engine-lock',
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
      const { rows } = await client.query<{ locked: boolean }>(
        'SELECT pg_try_advisory_lock(hashtext($1)) AS locked',
        [this.key],
      );
      if (rows[0]?.locked) {
        this.held = true;
        this.status.release(GATE);
        this.log.info({ lock: this.key }, 'holding the instance lock: trading');
      } else {
        this.status.hold(GATE, 'another engine holds the lock of this instance; standing by');
      }
    } catch (error) {
      this.status.hold(GATE, `standing by: ${(error as Error).message}`);
    } finally {
      this.attempting = false;
      if (!this.held) this.schedule();
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
    if (this.held) this.log.warn({ lock: this.key, reason }, 'lost the instance lock: standing by');
    this.held = false;
    if (this.stopped) return;
    this.status.hold(GATE, `standing by: ${reason}`);
    this.schedule();
  }
}
