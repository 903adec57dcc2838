import type { V1Deployment, V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { ENGINE_ENV, ENGINE_PORTS, type Identity } from '@tse/adapter';
import type { TradingEngineInstance } from '../api/schema.ts';
import { credentialsSecretName, ownedMetadata, ROLE_LABEL, selectorLabels } from './metadata.ts';
import { riskEnvironment } from './risk.ts';
import { CA_MOUNT_PATH, caFile, SECRET_KEYS } from './secret.ts';

/** The pod-template annotation whose change rolls the pods when the credentials change. */
export const CHECKSUM_ANNOTATION = 'trading.tse.io/credentials-checksum';

/** What the Deployment needs besides the instance itself. */
export interface DeploymentInputs {
  identity: Identity;
  image: string;
  credentialsChecksum: string;
  /** Which stores' CA bundles the credentials Secret holds. */
  storeCas?: { postgres: boolean; redis: boolean };
}

/**
 * The engine's Deployment. `Recreate`, because a rolling update would briefly
 * run two engines trading as one instance; probes on the engine's own
 * endpoints; identity in the environment under the adapter's variable names;
 * connection URLs from the instance's Secret. Pure: no clock, no randomness.
 */
export function buildDeployment(
  instance: TradingEngineInstance,
  inputs: DeploymentInputs,
): V1Deployment {
  const { spec } = instance;
  const selector = selectorLabels(instance);
  const metadata = ownedMetadata(instance, instance.metadata.name);
  const secret = credentialsSecretName(instance);
  const cas = caVolume(secret, inputs.storeCas);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata,
    spec: {
      replicas: spec.replicas,
      strategy: { type: 'Recreate' },
      revisionHistoryLimit: 3,
      selector: { matchLabels: selector },
      template: {
        metadata: {
          // Born standby: the operator labels only the engine that takes the lock (one write, not two).
          labels: { ...userLabels(spec.pod?.labels), ...metadata.labels, [ROLE_LABEL]: 'standby' },
          annotations: {
            ...spec.pod?.annotations,
            [CHECKSUM_ANNOTATION]: inputs.credentialsChecksum,
          },
        },
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 1000,
            runAsGroup: 1000,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(spec.pod?.nodeSelector && { nodeSelector: spec.pod.nodeSelector }),
          ...(spec.pod?.tolerations && { tolerations: spec.pod.tolerations }),
          ...(spec.pod?.affinity && { affinity: spec.pod.affinity }),
          ...(cas && { volumes: [cas.volume] }),
          containers: [
            {
              name: 'engine',
              image: inputs.image,
              imagePullPolicy: 'IfNotPresent',
              env: engineEnvironment(instance, inputs, secret),
              ports: [
                { name: 'http', containerPort: ENGINE_PORTS.http, protocol: 'TCP' },
                { name: 'grpc', containerPort: ENGINE_PORTS.grpc, protocol: 'TCP' },
                { name: 'management', containerPort: ENGINE_PORTS.management, protocol: 'TCP' },
              ],
              // Liveness over HTTP on the management port, readiness over the
              // standard gRPC health service: neither needs the API token.
              startupProbe: {
                httpGet: { path: '/api/v1/health/live', port: 'management' },
                periodSeconds: 1,
                failureThreshold: 60,
              },
              livenessProbe: {
                httpGet: { path: '/api/v1/health/live', port: 'management' },
                periodSeconds: 10,
                timeoutSeconds: 2,
                failureThreshold: 3,
              },
              readinessProbe: {
                grpc: { port: ENGINE_PORTS.grpc, service: '' },
                periodSeconds: 2,
                timeoutSeconds: 2,
                failureThreshold: 2,
              },
              ...(spec.resources && { resources: spec.resources }),
              ...(cas && { volumeMounts: [cas.mount] }),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
    },
  };
}

/** The engine's environment: identity and settings as values, connection URLs from the Secret. */
export function engineEnvironment(
  instance: TradingEngineInstance,
  inputs: DeploymentInputs,
  secret: string,
): V1EnvVar[] {
  const { identity } = inputs;
  const value = (name: string, text: string): V1EnvVar => ({ name, value: text });
  const fromSecret = (name: string, key: string): V1EnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: secret, key } },
  });
  return [
    value(ENGINE_ENV.serviceName, identity.serviceName),
    value(ENGINE_ENV.instanceName, identity.instanceName),
    value(ENGINE_ENV.environment, instance.spec.environment),
    value(ENGINE_ENV.logLevel, instance.spec.logLevel),
    value(ENGINE_ENV.version, instance.spec.version ?? imageTag(inputs.image)),
    value(ENGINE_ENV.httpPort, String(ENGINE_PORTS.http)),
    value(ENGINE_ENV.grpcPort, String(ENGINE_PORTS.grpc)),
    value(ENGINE_ENV.managementPort, String(ENGINE_PORTS.management)),
    value(ENGINE_ENV.postgresSchema, identity.postgresSchema),
    value(ENGINE_ENV.redisNamespace, identity.redisNamespace),
    fromSecret(ENGINE_ENV.postgresUrl, SECRET_KEYS.postgresUrl),
    fromSecret(ENGINE_ENV.redisUrl, SECRET_KEYS.redisUrl),
    fromSecret(ENGINE_ENV.apiToken, SECRET_KEYS.apiToken),
    fromSecret(ENGINE_ENV.apiReadToken, SECRET_KEYS.apiReadToken),
    // PostgreSQL's CA is named by the URL's sslrootcert; a Redis URL has no such parameter.
    ...(inputs.storeCas?.redis ? [value(ENGINE_ENV.redisCaFile, caFile(SECRET_KEYS.redisCa))] : []),
    ...riskEnvironment(instance.spec.risk),
  ];
}

/** The stores' CA bundles from the credentials Secret, read-only; none when there are none. */
function caVolume(
  secret: string,
  cas: DeploymentInputs['storeCas'],
): { volume: V1Volume; mount: V1VolumeMount } | undefined {
  const keys = [
    ...(cas?.postgres ? [SECRET_KEYS.postgresCa] : []),
    ...(cas?.redis ? [SECRET_KEYS.redisCa] : []),
  ];
  if (keys.length === 0) return undefined;
  return {
    volume: {
      name: 'store-cas',
      secret: {
        secretName: secret,
        items: keys.map((key) => ({ key, path: key })),
        defaultMode: 0o444,
      },
    },
    mount: { name: 'store-cas', mountPath: CA_MOUNT_PATH, readOnly: true },
  };
}

/** The tag of an image reference (`latest` when it has none; the digest when pinned by one). */
export function imageTag(image: string): string {
  const digest = image.indexOf('@');
  if (digest !== -1) return image.slice(digest + 1);
  const lastSlash = image.lastIndexOf('/');
  const colon = image.indexOf(':', lastSlash + 1);
  return colon === -1 ? 'latest' : image.slice(colon + 1);
}

/** The user's pod labels without ours: a `trading.tse.io/role` set there would route traffic to every pod. */
function userLabels(labels: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(
    Object.entries(labels ?? {}).filter(([key]) => !key.startsWith('trading.tse.io/')),
  );
}
