import { parseArgs } from 'node:util';
import {
  commandFor,
  deriveIdentity,
  PostgresProvisioner,
  planPostgres,
  planRedis,
  postgresTenant,
  RedisProvisioner,
  redisTenant,
  statementsFor,
} from '@tse/adapter';
import { Redis } from 'ioredis';
import pg from 'pg';
import { adminQuery, withDatabase } from '../support/fixtures.ts';
import { providePostgres, provideRedis } from '../support/stores.ts';
import { printTable, progress, round, timed } from './report.ts';

/**
 * The adapter's provisioning (observe, plan, apply, and a re-run that must be
 * a no-op) against a plain script that sends only the statements a new tenant
 * needs, on the same servers in the same run.
 */
export async function provisioningBench(argv: string[]): Promise<Record<string, number>> {
  const { values } = parseArgs({
    args: argv,
    options: { tenants: { type: 'string', default: '100' } },
  });
  const tenants = Number(values.tenants);
  const [postgres, redis] = await Promise.all([providePostgres(), provideRedis()]);
  try {
    await adminQuery(postgres.url, 'create database bench_provisioning');
    const url = withDatabase(postgres.url, 'bench_provisioning');
    const names = (label: string) =>
      Array.from({ length: tenants }, (_, i) =>
        deriveIdentity({ instanceName: `bench-${label}-engine-t${i}` }),
      );

    const adapterPg = new PostgresProvisioner(url, { max: 1 });
    const adapterRedis = new RedisProvisioner(redis.url);
    const adapterTenants = names('adapter');
    const bar = progress('adapter', tenants);
    const adapter = await timed(async () => {
      for (const identity of adapterTenants) {
        await adapterPg.ensure(
          postgresTenant(identity, { password: 'p', database: 'bench_provisioning' }),
        );
        await adapterRedis.ensure(redisTenant(identity, { password: 'p' }));
        bar.tick();
      }
    });
    bar.done();
    let rerunStatements = 0;
    const rerun = await timed(async () => {
      for (const identity of adapterTenants) {
        rerunStatements += (
          await adapterPg.ensure(
            postgresTenant(identity, { password: 'p', database: 'bench_provisioning' }),
          )
        ).statements.length;
        rerunStatements += (await adapterRedis.ensure(redisTenant(identity, { password: 'p' })))
          .commands.length;
      }
    });

    // The baseline: one connection each, the same statements, no observation.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const plainRedis = new Redis(redis.url);
    const empty = { canConnect: false, canCreateInPublic: false };
    const canonical = await adapterRedis.canonicalCommands();
    const baseline = await timed(async () => {
      for (const identity of names('plain')) {
        const tenant = postgresTenant(identity, { password: 'p', database: 'bench_provisioning' });
        const statements = planPostgres(tenant, empty).flatMap((action) =>
          statementsFor(action, tenant),
        );
        await client.query('BEGIN');
        for (const statement of statements) await client.query(statement);
        await client.query('COMMIT');
        const user = redisTenant(identity, { password: 'p' });
        for (const action of planRedis(user, {}, canonical)) {
          if (action.type === 'deleteKeys') continue;
          const [name, ...args] = commandFor(action, user) as [string, ...string[]];
          await plainRedis.call(name, ...args);
        }
      }
    });
    await client.end();
    plainRedis.disconnect();
    await adapterPg.close();
    await adapterRedis.close();

    const perTenant = (seconds: number) => round((seconds / tenants) * 1000);
    printTable(`provisioning ${tenants} tenants (PostgreSQL role + schema, Redis ACL user)`, [
      {
        run: 'adapter: observe, plan, apply, login check',
        ms_per_tenant: perTenant(adapter.seconds),
        total_s: round(adapter.seconds),
      },
      {
        run: 'plain script: the same statements only',
        ms_per_tenant: perTenant(baseline.seconds),
        total_s: round(baseline.seconds),
      },
      {
        run: 'adapter re-run on converged tenants',
        ms_per_tenant: perTenant(rerun.seconds),
        total_s: round(rerun.seconds),
      },
    ]);
    return {
      tenants,
      ms_per_tenant: perTenant(adapter.seconds),
      baseline_ms_per_tenant: perTenant(baseline.seconds),
      ratio: round(adapter.seconds / baseline.seconds),
      rerun_ms_per_tenant: perTenant(rerun.seconds),
      rerun_statements: rerunStatements,
    };
  } finally {
    await Promise.allSettled([postgres.stop(), redis.stop()]);
  }
}
