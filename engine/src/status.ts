import { EventEmitter } from 'node:events';
import type { EngineConfig } from './config.ts';
import type { DependencyName, DependencyState, Stores } from './infrastructure/stores.ts';

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
  reasons: string[];
  dependencies: Record<DependencyName, DependencyState>;
}

/**
 * The engine's health and readiness, from its dependencies and its own
 * lifecycle. Ready means it can keep the work it accepts: PostgreSQL (or
 * memory) answers and the engine is not shutting down. Emits `change`.
 */
export class EngineStatus extends EventEmitter<{ change: [ready: boolean] }> {
  private shuttingDown = false;
  private readonly gates = new Map<string, string>();
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

  /** Why writes are refused besides the stores (a standby engine), or undefined. */
  heldReason(): string | undefined {
    return this.gates.values().next().value;
  }

  /** Why this engine refuses writes now (PostgreSQL down, standing by), or undefined. */
  writeRefusal(): string | undefined {
    if (!this.stores.writable()) {
      return `writes are refused while PostgreSQL is down: ${this.stores.snapshot().postgres.reason ?? 'no answer'}`;
    }
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

  report(now = new Date()): HealthReport {
    const dependencies = this.stores.snapshot();
    const reasons = [
      ...Object.entries(dependencies)
        .filter(([, state]) => state.status === 'down')
        .map(([name, state]) => `${name} is down: ${state.reason ?? 'no answer'}`),
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
