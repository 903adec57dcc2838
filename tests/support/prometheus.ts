import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cachedBinary } from '../cluster/binaries.ts';
import { freePort, type Guarded, spawnGuarded, waitFor } from './processes.ts';

/** A scrape target as Kubernetes service discovery would describe one endpoint of a Service. */
export interface EndpointTarget {
  address: string;
  namespace: string;
  service: string;
  pod: string;
  container: string;
  port: string;
}

/**
 * The relabelling the Prometheus Operator (v0.85, pkg/prometheus/promcfg.go,
 * generateServiceMonitorConfig) generates for a ServiceMonitor endpoint with
 * the default Endpoints discovery role: namespace, service, pod and container
 * from the discovered endpoint, `job` = the Service's name, `endpoint` = the
 * port's name; `instance` stays the address and honor_labels stays false, so
 * a target label in the scraped metrics would come back as `exported_*`.
 */
export function serviceMonitorRelabelling(port: string): Record<string, unknown>[] {
  return [
    { source_labels: ['job'], target_label: '__tmp_prometheus_job_name' },
    { action: 'keep', source_labels: ['__meta_kubernetes_endpoint_port_name'], regex: port },
    {
      source_labels: [
        '__meta_kubernetes_endpoint_address_target_kind',
        '__meta_kubernetes_endpoint_address_target_name',
      ],
      separator: ';',
      regex: 'Node;(.*)',
      replacement: '$1',
      target_label: 'node',
    },
    {
      source_labels: [
        '__meta_kubernetes_endpoint_address_target_kind',
        '__meta_kubernetes_endpoint_address_target_name',
      ],
      separator: ';',
      regex: 'Pod;(.*)',
      replacement: '$1',
      target_label: 'pod',
    },
    { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
    { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
    { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
    {
      action: 'drop',
      source_labels: ['__meta_kubernetes_pod_phase'],
      regex: '(Failed|Succeeded)',
    },
    {
      source_labels: ['__meta_kubernetes_service_name'],
      target_label: 'job',
      replacement: '$1',
    },
    { target_label: 'endpoint', replacement: port },
  ];
}

/**
 * A scrape job equivalent to what a ServiceMonitor produces: static targets
 * carrying the `__meta_kubernetes_*` labels service discovery would set, and
 * the operator's relabelling.
 */
export function serviceMonitorScrapeJob(
  name: string,
  targets: EndpointTarget[],
  path = '/metrics',
): Record<string, unknown> {
  return {
    job_name: name,
    honor_labels: false,
    metrics_path: path,
    scrape_interval: '1s',
    static_configs: targets.map((target) => ({
      targets: [target.address],
      labels: {
        __meta_kubernetes_namespace: target.namespace,
        __meta_kubernetes_service_name: target.service,
        __meta_kubernetes_pod_name: target.pod,
        __meta_kubernetes_pod_container_name: target.container,
        __meta_kubernetes_pod_phase: 'Running',
        __meta_kubernetes_endpoint_port_name: target.port,
        __meta_kubernetes_endpoint_address_target_kind: 'Pod',
        __meta_kubernetes_endpoint_address_target_name: target.pod,
      },
    })),
    relabel_configs: serviceMonitorRelabelling(target(targets).port),
  };
}

function target(targets: EndpointTarget[]): EndpointTarget {
  const first = targets[0];
  if (!first) throw new Error('a scrape job needs at least one target');
  return first;
}

/** One series of an instant query's answer. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** A Prometheus server on loopback, and its HTTP API. */
export interface PrometheusServer {
  url: string;
  process: Guarded;
  /** An instant query; throws on an error answer. */
  query(expr: string): Promise<Sample[]>;
  /** The values of a label among the series that match a selector. */
  labelValues(label: string, match: string): Promise<string[]>;
}

/** Starts the Prometheus built into the binary cache with the given scrape jobs. */
export async function startPrometheus(jobs: Record<string, unknown>[]): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'tse-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(
    config,
    stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      scrape_configs: jobs,
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnGuarded(
    'prometheus',
    cachedBinary('prometheus'),
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { cleanup: [dir] },
  );
  await waitFor(
    'Prometheus to be ready',
    async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined),
    { process: child },
  );
  const api = async (path: string, params: URLSearchParams) => {
    const response = await fetch(`${url}${path}?${params}`);
    const body = (await response.json()) as { status: string; data: unknown; error?: string };
    if (body.status !== 'success') throw new Error(`${path} ${params}: ${body.error}`);
    return body.data;
  };
  return {
    url,
    process: child,
    query: async (expr) =>
      ((await api('/api/v1/query', new URLSearchParams({ query: expr }))) as { result: Sample[] })
        .result,
    labelValues: async (label, match) =>
      (await api(
        `/api/v1/label/${label}/values`,
        new URLSearchParams({ 'match[]': match }),
      )) as string[],
  };
}
