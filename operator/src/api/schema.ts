import { ENVIRONMENTS } from '@tse/adapter';
import { z } from 'zod';

// The one source of truth for the TradingEngineInstance API: these schemas
// parse objects read from the API server, and crd.ts turns them into the
// CRD's OpenAPI schema (descriptions, defaults, CEL rules and all).

export const GROUP = 'trading.tse.io';
export const VERSION = 'v1alpha1';
export const KIND = 'TradingEngineInstance';
export const PLURAL = 'tradingengineinstances';
export const API_VERSION = `${GROUP}/${VERSION}`;

const NAME_PATTERN = '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';
const SCHEMA_PATTERN = '^[a-z_][a-z0-9_]{0,62}$';
/** A Secret's name: a DNS subdomain (lower case, digits, '-' and '.' inside, at most 253). */
const SECRET_NAME_PATTERN = '^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$';
const NAMESPACE_PATTERN = '^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*$';
const immutable = (field: string) => ({
  'x-kubernetes-validations': [{ rule: 'self == oldSelf', message: `${field} is immutable` }],
});

const preserved = (description: string) =>
  z
    .record(z.string(), z.unknown())
    .describe(description)
    .meta({ 'x-kubernetes-preserve-unknown-fields': true });

// A resource.Quantity as Kubernetes writes it: `cpu: 1` is as valid as `cpu: 500m`.
const QUANTITY_PATTERN =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';
const quantity = z
  .union([z.number().int(), z.string().regex(new RegExp(QUANTITY_PATTERN))])
  .meta({ 'x-kubernetes-int-or-string': true, pattern: QUANTITY_PATTERN })
  // The pod template takes quantities as strings.
  .transform((value) => String(value));
const quantities = (description: string) =>
  z.record(z.string(), quantity).optional().describe(description);

const resources = z
  .strictObject({
    requests: quantities(
      'Minimum compute resources (cpu, memory, ephemeral-storage...) the engine container is scheduled with.',
    ),
    limits: quantities('Maximum compute resources the engine container may use.'),
  })
  .describe('Compute resources of the engine container, as in a container spec.');

// Decimal strings, never numbers: money must not pass through binary floating point.
const DECIMAL_PATTERN = '^[0-9]+(\\.[0-9]+)?$';
const risk = z
  .object({
    maxPositionSize: z
      .string()
      .regex(new RegExp(DECIMAL_PATTERN))
      .optional()
      .describe(
        'Largest absolute position per instrument, as a decimal string ("1000.5"); orders beyond it are rejected. No limit when not set.',
      ),
    maxDailyLoss: z
      .string()
      .regex(new RegExp(DECIMAL_PATTERN))
      .optional()
      .describe(
        'Largest loss per day, as a decimal string; orders are rejected once it is reached. No limit when not set.',
      ),
  })
  .describe("The instance's risk limits, enforced by the engine on every order.");

const secretRef = z
  .object({
    name: z
      .string()
      .regex(new RegExp(SECRET_NAME_PATTERN))
      .describe("Name of a Secret in the instance's namespace."),
    key: z
      .string()
      .min(1)
      .default('url')
      .describe('Key of the Secret holding the admin connection URL.'),
    caKey: z
      .string()
      .min(1)
      .optional()
      .describe(
        "Key of the same Secret holding the PEM CA bundle that signs the store's server certificate. The operator and the engines verify the server with it (the URL must ask for TLS: sslmode=verify-full, verify-ca or require; rediss://).",
      ),
  })
  .describe(
    "An admin connection URL in a Secret; by default the operator's own admin connection is used.",
  );

const deletionPolicy = z
  .enum(['Retain', 'Delete'])
  .default('Retain')
  .describe(
    "On deletion, Retain keeps the data and disables the login; Delete drops this instance's data and login.",
  );

const postgres = z
  .object({
    adminSecretRef: secretRef.optional(),
    schema: z
      .string()
      .regex(new RegExp(SCHEMA_PATTERN))
      .optional()
      .describe(
        'The PostgreSQL schema; derived from the instance name when not set. Immutable once set.',
      )
      .meta(immutable('spec.postgres.schema')),
    host: z
      .string()
      .min(1)
      .optional()
      .describe(
        "host[:port] the engine pods use to reach PostgreSQL, when it differs from the admin connection's.",
      ),
    connectionLimit: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(20)
      .describe("Connection limit of the instance's login role."),
    deletionPolicy,
  })
  .describe("The instance's PostgreSQL schema and login role.");

const redis = z
  .object({
    adminSecretRef: secretRef.optional(),
    namespace: z
      .string()
      .max(200)
      .regex(new RegExp(NAMESPACE_PATTERN))
      .optional()
      .describe(
        'The Redis key namespace; derived from the instance name when not set. No glob characters. Immutable once set.',
      )
      .meta({
        'x-kubernetes-validations': [
          { rule: 'self == oldSelf', message: 'spec.redis.namespace is immutable' },
          {
            rule: "!self.matches('[*?\\\\[\\\\]\\\\\\\\]')",
            message: 'spec.redis.namespace must not contain Redis glob characters (* ? [ ] \\)',
          },
        ],
      }),
    host: z
      .string()
      .min(1)
      .optional()
      .describe(
        "host[:port] the engine pods use to reach Redis, when it differs from the admin connection's.",
      ),
    adoptExistingKeys: z
      .boolean()
      .default(false)
      .describe(
        'Take over keys that already exist under the namespace when no instance holds it (e.g. data written before the operator). Off by default: such a namespace is refused. Never takes a namespace another instance holds.',
      ),
    deletionPolicy,
  })
  .describe("The instance's Redis ACL user and key namespace.");

const labelSelector = z
  .object({
    matchLabels: z
      .record(z.string(), z.string())
      .optional()
      .describe('Labels the object must have.'),
    matchExpressions: z
      .array(
        z
          .object({
            key: z.string().min(1).describe('The label key.'),
            operator: z
              .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
              .describe('How the key relates to the values.'),
            values: z
              .array(z.string().describe('A label value.'))
              .max(64)
              .optional()
              .describe('Values for In and NotIn.'),
          })
          .describe('One label requirement.'),
      )
      .max(16)
      .optional()
      .describe('Label requirements, all of which must hold.'),
  })
  .describe('A Kubernetes label selector.');

const networkPeer = z
  .object({
    podSelector: labelSelector
      .optional()
      .describe(
        "Pods (in the instance's namespace, or in the namespaces namespaceSelector picks).",
      ),
    namespaceSelector: labelSelector.optional().describe('Namespaces; alone, every pod in them.'),
  })
  .describe(
    'Who may connect, as in a NetworkPolicy peer. Each selector must select by something: an empty selector would match every pod (or every namespace), which is refused.',
  )
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.podSelector) || has(self.namespaceSelector)',
        message: 'a peer needs a podSelector or a namespaceSelector',
      },
      {
        rule: '!has(self.podSelector) || (has(self.podSelector.matchLabels) && size(self.podSelector.matchLabels) > 0) || (has(self.podSelector.matchExpressions) && size(self.podSelector.matchExpressions) > 0)',
        message:
          'an empty podSelector selects every pod of the namespace: name the labels of the clients',
      },
      {
        rule: '!has(self.namespaceSelector) || (has(self.namespaceSelector.matchLabels) && size(self.namespaceSelector.matchLabels) > 0) || (has(self.namespaceSelector.matchExpressions) && size(self.namespaceSelector.matchExpressions) > 0)',
        message:
          'an empty namespaceSelector selects every namespace of the cluster: name the labels of the namespaces',
      },
    ],
  });

const MONITORING_NAMESPACE = [
  { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
];

const networkPolicy = z
  .object({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        "Create a NetworkPolicy for the engine pods. Turning it off deletes the operator's policy: every pod that can reach the engines may then try the trading API (it still needs the instance's token).",
      ),
    clients: z
      .array(networkPeer)
      .max(32)
      .default([])
      .describe('Who may call the trading API (HTTP and gRPC ports). None by default.'),
    monitoring: z
      .array(networkPeer)
      .max(32)
      .default(MONITORING_NAMESPACE)
      .describe(
        "Who may read health and metrics on the management port; the namespace named monitoring by default. The kubelet's probes come from the node and are always admitted.",
      ),
  })
  .describe("Which pods may reach the engines' ports.");

export const instanceSpec = z
  .object({
    serviceName: z
      .string()
      .regex(new RegExp(NAME_PATTERN))
      .default('trading-system-engine')
      .describe('The service this instance belongs to. Immutable.')
      .meta(immutable('spec.serviceName')),
    instanceName: z
      .string()
      .regex(new RegExp(NAME_PATTERN))
      .optional()
      .describe(
        'The instance name the identity derives from; metadata.name when not set. Case is kept. Immutable.',
      )
      .meta(immutable('spec.instanceName')),
    environment: z
      .enum(ENVIRONMENTS)
      .default('kubernetes')
      .describe('The environment the engine reports.'),
    image: z
      .string()
      .min(1)
      .optional()
      .describe("The engine image; the operator's default when not set."),
    version: z
      .string()
      .min(1)
      .optional()
      .describe('The version the engine reports; the image tag when not set.'),
    replicas: z
      .number()
      .int()
      .min(0)
      .max(10)
      .default(1)
      .describe(
        'Engine pods. One trades (it holds the instance lock); the others are hot standbys that take over. Updates recreate the pods, never rolling them.',
      ),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal'])
      .default('info')
      .describe("The engine's log level."),
    resources: resources.optional(),
    risk: risk.optional(),
    pod: z
      .object({
        labels: z
          .record(z.string(), z.string())
          .optional()
          .describe('Extra labels on the engine pods.'),
        annotations: z
          .record(z.string(), z.string())
          .optional()
          .describe('Extra annotations on the engine pods.'),
        nodeSelector: z
          .record(z.string(), z.string())
          .optional()
          .describe('Node selector of the engine pods.'),
        tolerations: z
          .array(preserved('A toleration.'))
          .optional()
          .describe('Tolerations of the engine pods.'),
        affinity: preserved('Affinity of the engine pods.').optional(),
      })
      .optional()
      .describe('Scheduling and metadata of the engine pods.'),
    postgres: postgres.default({ connectionLimit: 20, deletionPolicy: 'Retain' }),
    redis: redis.default({ deletionPolicy: 'Retain', adoptExistingKeys: false }),
    monitoring: z
      .object({
        serviceMonitor: z
          .object({
            enabled: z
              .boolean()
              .default(true)
              .describe("Create a ServiceMonitor when the Prometheus Operator's CRDs exist."),
            interval: z
              .string()
              .regex(/^[0-9]+(ms|s|m|h)$/)
              .default('30s')
              .describe('Scrape interval.'),
            labels: z
              .record(z.string(), z.string())
              .optional()
              .describe('Extra labels on the ServiceMonitor (for Prometheus selectors).'),
          })
          .default({ enabled: true, interval: '30s' })
          .describe('A ServiceMonitor that makes the Prometheus Operator scrape the engines.'),
      })
      .default({ serviceMonitor: { enabled: true, interval: '30s' } })
      .describe('Prometheus scraping.'),
    networkPolicy: networkPolicy.default({
      enabled: true,
      clients: [],
      monitoring: MONITORING_NAMESPACE,
    }),
    paused: z
      .boolean()
      .default(false)
      .describe('Stop reconciling this instance; what runs keeps running.'),
  })
  .describe('The desired state of a trading-engine instance.')
  .meta({
    'x-kubernetes-validations': [
      {
        rule: 'has(self.instanceName) == has(oldSelf.instanceName)',
        message: 'spec.instanceName cannot be added or removed after creation',
      },
      {
        rule: 'has(self.postgres.schema) == has(oldSelf.postgres.schema)',
        message: 'spec.postgres.schema cannot be added or removed after creation',
      },
      {
        rule: 'has(self.redis.namespace) == has(oldSelf.redis.namespace)',
        message: 'spec.redis.namespace cannot be added or removed after creation',
      },
    ],
  });
export type InstanceSpec = z.infer<typeof instanceSpec>;

export const condition = z
  .object({
    type: z
      .string()
      .describe('Type of the condition: Ready, DatabaseReady, CacheReady, Available, Paused.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('Whether the condition holds.'),
    observedGeneration: z
      .number()
      .int()
      .optional()
      .describe('The generation of the spec the condition was set from.'),
    lastTransitionTime: z.iso.datetime().describe('When the status last changed.'),
    reason: z.string().describe('A CamelCase reason for the status.'),
    message: z.string().describe('What happened, for people.'),
  })
  .describe('One aspect of the instance, in the standard metav1.Condition shape.');
export type Condition = z.infer<typeof condition>;

export const instanceStatus = z
  .object({
    observedGeneration: z
      .number()
      .int()
      .optional()
      .describe('The generation this status describes.'),
    conditions: z
      .array(condition)
      .optional()
      .describe('Ready, DatabaseReady, CacheReady, Available and Paused, each with a reason.')
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] }),
    identity: z
      .object({
        serviceName: z.string().describe('The service the instance belongs to.'),
        instanceName: z.string().describe('The instance name the engine reports.'),
        postgresSchema: z.string().describe("The instance's PostgreSQL schema (and login role)."),
        redisNamespace: z.string().describe("The instance's Redis key namespace (and ACL user)."),
      })
      .optional()
      .describe('The resolved identity.'),
    credentialsSecret: z
      .string()
      .optional()
      .describe("The Secret holding the instance's own connection URLs."),
    stores: z
      .object({
        postgres: z
          .string()
          .optional()
          .describe('host:port/database of the PostgreSQL server that provisioned the schema.'),
        redis: z
          .string()
          .optional()
          .describe('host:port of the Redis server that provisioned the namespace.'),
      })
      .optional()
      .describe(
        "The servers that confirmed the instance's names: it holds them there, and only there.",
      ),
    replicas: z
      .number()
      .int()
      .optional()
      .describe('Engine pods that exist (the scale subresource reads it).'),
    readyReplicas: z.number().int().optional().describe('Engine pods that are ready.'),
    activeEngine: z
      .string()
      .optional()
      .describe("The pod of the engine that trades (it holds the instance's lock)."),
    standbyReplicas: z
      .number()
      .int()
      .optional()
      .describe('Ready engine pods standing by to take over.'),
  })
  .describe('What the operator observed and did.');
export type InstanceStatus = z.infer<typeof instanceStatus>;

/** Object metadata as the operator needs it. */
export const metadata = z
  .object({
    name: z.string(),
    namespace: z.string(),
    uid: z.string(),
    generation: z.number().int().default(1),
    resourceVersion: z.string().optional(),
    creationTimestamp: z
      .union([z.string(), z.date()])
      .transform((value) => new Date(value).toISOString()),
    deletionTimestamp: z.union([z.string(), z.date()]).optional(),
    finalizers: z.array(z.string()).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();

/** A TradingEngineInstance read from the API server, defaults applied. */
export const tradingEngineInstance = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata,
  spec: instanceSpec.default(instanceSpec.parse({})),
  status: instanceStatus.optional(),
});
export type TradingEngineInstance = z.infer<typeof tradingEngineInstance>;
