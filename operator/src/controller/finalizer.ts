import type { Logger } from 'pino';
import type { TradingEngineInstance } from '../api/schema.ts';
import { credentialsSecretName } from '../builders/metadata.ts';
import { type ReconcilerDependencies, target } from './context.ts';
import { keyOf, resolveIdentity } from './identity.ts';
import type { NameArbiter } from './names.ts';
import type { PostgresTenants } from './postgres.ts';
import type { RedisTenants } from './redis.ts';

/** The finalizer that gives the operator a say before an instance goes away. */
export const FINALIZER = 'trading.tse.io/finalizer';

/** Deletion: what the instance leaves in its stores, then the finalizer comes off. */
export class Finalizer {
  private readonly deps: ReconcilerDependencies;
  private readonly names: NameArbiter;
  private readonly postgres: PostgresTenants;
  private readonly redis: RedisTenants;

  constructor(
    deps: ReconcilerDependencies,
    parts: { names: NameArbiter; postgres: PostgresTenants; redis: RedisTenants },
  ) {
    this.deps = deps;
    this.names = parts.names;
    this.postgres = parts.postgres;
    this.redis = parts.redis;
  }

  /** Deletion: Retain disables the logins and keeps the data; Delete drops this instance's own. */
  async finalize(instance: TradingEngineInstance, log: Logger): Promise<void> {
    const { finalizers } = instance.metadata;
    if (!finalizers?.includes(FINALIZER)) return;
    const identity = (() => {
      try {
        return resolveIdentity(instance);
      } catch {
        return undefined;
      }
    })();
    // An instance that never held its names (invalid, or refused) has nothing of its own to clean up.
    if (identity && !this.names.conflictOf(instance, identity)) {
      const admin = await this.deps.admin.resolve(instance);
      const secret = this.deps.caches.secrets.get(
        instance.metadata.namespace,
        credentialsSecretName(instance),
      );
      const postgres = await this.postgres.release(instance, identity, admin.postgres, secret);
      const redis = await this.redis.release(instance, identity, admin.redis, secret);
      const message = `PostgreSQL ${postgres}; Redis ${redis}`;
      log.info(
        {
          postgres: instance.spec.postgres.deletionPolicy,
          redis: instance.spec.redis.deletionPolicy,
        },
        message,
      );
      this.deps.events.record(target(instance), 'Normal', 'Finalized', message);
    }
    this.redis.forget(keyOf(instance));
    this.postgres.forget(keyOf(instance));
    await this.deps.writer.setFinalizers(
      instance.metadata.namespace,
      instance.metadata.name,
      finalizers,
      finalizers.filter((finalizer) => finalizer !== FINALIZER),
    );
  }
}
