import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The operator's metrics under controller-runtime's names, so that existing
 * controller dashboards and alerts work unchanged.
 */
export interface ControllerMetrics {
  registry: Registry;
  reconciles: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileTime: Histogram<'controller'>;
  maxConcurrent: Gauge<'controller'>;
  activeWorkers: Gauge<'controller'>;
  depth: Gauge<'name' | 'priority'>;
  adds: Counter<'name'>;
  retries: Counter<'name'>;
  queueDuration: Histogram<'name'>;
  workDuration: Histogram<'name'>;
  leader: Gauge<'name'>;
  instances: Gauge<'condition' | 'status'>;
  storeActions: Counter<'store' | 'action'>;
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Conditions of the instances in the cache, for the tse_instances gauge. */
export type ConditionSource = () => Iterable<{ type: string; status: string }[] | undefined>;

export function createControllerMetrics(conditions: ConditionSource = () => []): ControllerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // prom-client's aggregate gauges named `*_total`, which promtool rejects;
  // `nodejs_active_handles` and friends carry the same numbers by type.
  for (const kind of ['handles', 'requests', 'resources']) {
    registry.removeSingleMetric(`nodejs_active_${kind}_total`);
  }
  const registers = [registry];
  return {
    registry,
    reconciles: new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Total number of reconciliations per controller.',
      labelNames: ['controller', 'result'],
      registers,
    }),
    reconcileErrors: new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Total number of reconciliation errors per controller.',
      labelNames: ['controller'],
      registers,
    }),
    reconcileTime: new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Length of time per reconciliation per controller.',
      labelNames: ['controller'],
      buckets: BUCKETS,
      registers,
    }),
    maxConcurrent: new Gauge({
      name: 'controller_runtime_max_concurrent_reconciles',
      help: 'Maximum number of concurrent reconciles per controller.',
      labelNames: ['controller'],
      registers,
    }),
    activeWorkers: new Gauge({
      name: 'controller_runtime_active_workers',
      help: 'Number of currently used workers per controller.',
      labelNames: ['controller'],
      registers,
    }),
    depth: new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of workqueue, by lane (priority high or low).',
      labelNames: ['name', 'priority'],
      registers,
    }),
    adds: new Counter({
      name: 'workqueue_adds_total',
      help: 'Total number of adds handled by workqueue.',
      labelNames: ['name'],
      registers,
    }),
    retries: new Counter({
      name: 'workqueue_retries_total',
      help: 'Total number of retries handled by workqueue.',
      labelNames: ['name'],
      registers,
    }),
    queueDuration: new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long in seconds an item stays in workqueue before being requested.',
      labelNames: ['name'],
      buckets: BUCKETS,
      registers,
    }),
    workDuration: new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long in seconds processing an item from workqueue takes.',
      labelNames: ['name'],
      buckets: BUCKETS,
      registers,
    }),
    leader: new Gauge({
      name: 'leader_election_master_status',
      help: '1 when this process is the leader.',
      labelNames: ['name'],
      registers,
    }),
    instances: new Gauge({
      name: 'tse_instances',
      help: 'TradingEngineInstances by condition and status.',
      labelNames: ['condition', 'status'],
      registers,
      collect() {
        this.reset();
        for (const list of conditions()) {
          for (const condition of list ?? [])
            this.inc({ condition: condition.type, status: condition.status });
        }
      },
    }),
    storeActions: new Counter({
      name: 'tse_store_actions_total',
      help: 'Provisioning actions run against the stores (DDL, ACL commands).',
      labelNames: ['store', 'action'],
      registers,
    }),
  };
}
