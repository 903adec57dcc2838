import { EventEmitter } from 'node:events';
import type { EngineConfig } from './config.ts';
import type { DependencyName, DependencyState, Stores } from './infrastructure/stores.ts';

/** Whether this engine trades for its instance or stands by for another that does. */
export type EngineRole = 'active' | 'standby';

/** What the health endpoints report. */
export interface HealthReport {
  status: 'healthy' | 'degraded' | 'shutting_down';
  service: string;
  instance: string;
  version: string;
  environment: string;
  timestamp: string;
  postgres_schema: string;
  redis_namespace: string;
  ready: boolean;
  /** `active` trades; a `standby` is ready to take over and refuses writes until it does. */
  role: EngineRole;
  reasons: string[];
  dependencies: Record<DependencyName, DependencyState>;
}

/**
 * The engine's health, readiness and role, from its dependencies and its own
 * lifecycle. Ready means it can keep the work it accepts or, as a standby,
 * take over: PostgreSQL (or memory) answers and the engine is not shutting
 * down. Emits `change` when readiness or the role changes.
 */
export class EngineStatus extends EventEmitter<{ change: [ready: boolean] }> {
  private shuttingDown = false;
  private readonly gates = new Map<string, string>();
  private standbyReason: string | undefined;
  private lastReady: boolean;
  private readonly config: EngineConfig;
  private readonly stores: Stores;

  constructor(config: EngineConfig, stores: Stores) {
    super();
    this.config = config;
    this.stores = stores;
    this.lastReady = this.ready();
    stores.onChange(() => this.changed());
  }

  /** True while the engine accepts work. */
  ready(): boolean {
    return !this.shuttingDown && this.stores.writable() && this.gates.size === 0;
  }

  /** Holds readiness down for a named reason (e.g. "standby") until released. */
  hold(name: string, reason: string): void {
    this.gates.set(name, reason);
    this.changed();
  }

  release(name: string): void {
    this.gates.delete(name);
    this.changed();
  }

  /** This engine stands by (it does not hold its instance's lock) for the reason given. */
  standBy(reason: string): void {
    const changed = this.standbyReason !== reason;
    this.standbyReason = reason;
    if (changed) this.emit('change', this.ready());
  }

  /** This engine holds its instance's lock: it trades. */
  activate(): void {
    if (this.standbyReason === undefined) return;
    this.standbyReason = undefined;
    this.emit('change', this.ready());
  }

  role(): EngineRole {
    return this.standbyReason === undefined ? 'active' : 'standby';
  }

  /** Why writes are refused besides the stores (standing by, a held gate), or undefined. */
  heldReason(): string | undefined {
    return this.standbyReason ?? this.gates.values().next().value;
  }

  /**
   * Why this engine refuses writes now (PostgreSQL down, standing by), or
   * undefined. Told to clients: PostgreSQL's own reason (hosts, driver
   * errors) stays in the health report and the log.
   */
  writeRefusal(): string | undefined {
    if (!this.stores.writable()) return 'writes are refused while PostgreSQL is down';
    const held = this.heldReason();
    return held && `writes are refused: ${held}`;
  }

  /** True once shutdown has begun. */
  draining(): boolean {
    return this.shuttingDown;
  }

  /** From now on the engine is not ready: it is draining. */
  beginShutdown(): void {
    this.shuttingDown = true;
    this.changed();
  }

  /**
   * The health report. `detailed` keeps why a store is down (a host, a
   * driver's error): for the management port, which only probes and
   * monitoring reach; the API's port says only that it is down.
   */
  report(now = new Date(), { detailed = true }: { detailed?: boolean } = {}): HealthReport {
    const snapshot = this.stores.snapshot();
    const dependencies = detailed
      ? snapshot
      : (Object.fromEntries(
          Object.entries(snapshot).map(([name, state]) => {
            if (state.status !== 'down') return [name, state];
            const { reason: _, ...withoutReason } = state;
            return [name, withoutReason];
          }),
        ) as typeof snapshot);
    const reasons = [
      ...Object.entries(snapshot)
        .filter(([, state]) => state.status === 'down')
        .map(([name, state]) =>
          detailed ? `${name} is down: ${state.reason ?? 'no answer'}` : `${name} is down`,
        ),
      ...this.gates.values(),
    ];
    const { identity } = this.config;
    return {
      status: this.shuttingDown ? 'shutting_down' : reasons.length > 0 ? 'degraded' : 'healthy',
      service: identity.serviceName,
      instance: identity.instanceName,
      version: this.config.version,
      environment: this.config.environment,
      timestamp: now.toISOString(),
      postgres_schema: identity.postgresSchema,
      redis_namespace: identity.redisNamespace,
      ready: this.ready(),
      role: this.role(),
      reasons,
      dependencies,
    };
  }

  private changed(): void {
    const ready = this.ready();
    if (ready !== this.lastReady) {
      this.lastReady = ready;
      this.emit('change', ready);
    }
  }
}
