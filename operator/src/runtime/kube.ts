import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
  PolicyV1Api,
  type RequestContext,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { API_VERSION, GROUP, type InstanceStatus, KIND, PLURAL, VERSION } from '../api/schema.ts';
import { FIELD_MANAGER } from '../builders/metadata.ts';

/**
 * Kinds whose typed client models rename fields (a NetworkPolicy rule's
 * `from` is `_from`): they are sent and read as plain JSON, so that no field
 * is dropped by a serializer that does not know it.
 */
export const PLAIN_JSON_KINDS: Record<string, { group: string; version: string; plural: string }> =
  {
    NetworkPolicy: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies' },
  };

/**
 * The operator's writes: server-side apply under its own field manager,
 * status through the /status subresource, finalizers with a JSON patch that
 * tests the list it replaces.
 */
export class KubeWriter {
  private readonly objects: KubernetesObjectApi;
  private readonly custom: CustomObjectsApi;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly policy: PolicyV1Api;
  /** Mutating requests sent, by kind: the benchmarks read it. */
  readonly writes = new Map<string, number>();

  constructor(kc: KubeConfig) {
    this.objects = KubernetesObjectApi.makeApiClient(kc);
    this.custom = kc.makeApiClient(CustomObjectsApi);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
    this.policy = kc.makeApiClient(PolicyV1Api);
  }

  /** A JSON patch of an owned object, attributed to our field manager. */
  async jsonPatch<T extends KubernetesObject>(object: T, operations: object[]): Promise<T> {
    const kind = object.kind ?? 'unknown';
    this.count(kind);
    const request = {
      namespace: object.metadata?.namespace ?? '',
      name: object.metadata?.name ?? '',
      body: operations,
      fieldManager: FIELD_MANAGER,
    };
    const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    switch (kind) {
      case 'Deployment':
        return (await this.apps.patchNamespacedDeployment(request, json)) as T;
      case 'Service':
        return (await this.core.patchNamespacedService(request, json)) as T;
      case 'Secret':
        return (await this.core.patchNamespacedSecret(request, json)) as T;
      case 'PodDisruptionBudget':
        return (await this.policy.patchNamespacedPodDisruptionBudget(request, json)) as T;
      default: {
        const [group, version] = (object.apiVersion ?? '').split('/') as [string, string];
        const plural = PLAIN_JSON_KINDS[kind]?.plural ?? `${kind.toLowerCase()}s`;
        return (await this.custom.patchNamespacedCustomObject(
          { group, version, plural, ...request },
          json,
        )) as T;
      }
    }
  }

  /** Reads an object from the API server (not a cache); undefined when it does not exist. */
  async read<T extends KubernetesObject>(object: T): Promise<T | undefined> {
    const plain = PLAIN_JSON_KINDS[object.kind ?? ''];
    try {
      if (plain)
        return (await this.custom.getNamespacedCustomObject({
          ...plain,
          namespace: object.metadata?.namespace ?? '',
          name: object.metadata?.name ?? '',
        })) as T;
      return (await this.objects.read({
        apiVersion: object.apiVersion ?? '',
        kind: object.kind ?? '',
        metadata: {
          name: object.metadata?.name ?? '',
          namespace: object.metadata?.namespace ?? '',
        },
      })) as T;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return undefined;
      throw error;
    }
  }

  /**
   * Deletes an object the caller has checked is ours, if it is still the one
   * it read (a precondition on its uid). False when it is already gone.
   */
  async delete<T extends KubernetesObject>(object: T): Promise<boolean> {
    this.count(object.kind ?? 'unknown');
    try {
      await this.objects.delete(object, undefined, undefined, undefined, undefined, undefined, {
        preconditions: { uid: object.metadata?.uid },
      });
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return false;
      throw error;
    }
  }

  /** Server-side applies an object, taking ownership of the fields it sets. */
  async apply<T extends KubernetesObject>(object: T): Promise<T> {
    this.count(object.kind ?? 'unknown');
    const plain = PLAIN_JSON_KINDS[object.kind ?? ''];
    if (plain)
      return (await this.custom.patchNamespacedCustomObject(
        {
          ...plain,
          namespace: object.metadata?.namespace ?? '',
          name: object.metadata?.name ?? '',
          body: object,
          fieldManager: FIELD_MANAGER,
          force: true,
        },
        setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
      )) as T;
    return this.objects.patch(
      object,
      undefined,
      undefined,
      FIELD_MANAGER,
      true,
      PatchStrategy.ServerSideApply,
    );
  }

  /** Applies an instance's status through the status subresource. */
  async applyStatus(
    namespace: string,
    name: string,
    status: InstanceStatus,
  ): Promise<KubernetesObject> {
    this.count(`${KIND}/status`);
    return this.custom.patchNamespacedCustomObjectStatus(
      {
        group: GROUP,
        version: VERSION,
        namespace,
        plural: PLURAL,
        name,
        body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  /**
   * Sets (or, with `undefined`, removes) one label on a pod, by a merge patch:
   * its other labels stay as they are. False when the pod is already gone.
   */
  async labelPod(
    namespace: string,
    name: string,
    label: string,
    value: string | undefined,
  ): Promise<boolean> {
    this.count('Pod');
    try {
      await this.core.patchNamespacedPod(
        {
          namespace,
          name,
          body: { metadata: { labels: { [label]: value ?? null } } },
          fieldManager: FIELD_MANAGER,
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return true;
    } catch (error) {
      if ((error as { code?: number }).code === 404) return false;
      throw error;
    }
  }

  /** Replaces an instance's finalizers, failing if they changed since `expected` was read. */
  async setFinalizers(
    namespace: string,
    name: string,
    expected: string[] | undefined,
    finalizers: string[],
  ): Promise<void> {
    this.count(KIND);
    const patch =
      expected === undefined
        ? [{ op: 'add', path: '/metadata/finalizers', value: finalizers }]
        : [
            { op: 'test', path: '/metadata/finalizers', value: expected },
            { op: 'replace', path: '/metadata/finalizers', value: finalizers },
          ];
    await this.custom.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: patch },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
  }

  private count(kind: string): void {
    this.writes.set(kind, (this.writes.get(kind) ?? 0) + 1);
  }
}

/**
 * A KubeConfig whose every API request gives up after `requestTimeoutMs`: a
 * hung API server must not stall a reconcile or a lease renewal for minutes.
 * The generated clients use the signal set here; watches (long requests with
 * their own inactivity timeout) set up their own and are not affected.
 */
export class TimedKubeConfig extends KubeConfig {
  readonly requestTimeoutMs: number;

  constructor(requestTimeoutMs: number) {
    super();
    this.requestTimeoutMs = requestTimeoutMs;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    if (!context.getSignal()) context.setSignal(AbortSignal.timeout(this.requestTimeoutMs));
  }
}

/** The operator's KubeConfig: from a file if one is named, else in-cluster or ~/.kube/config. */
export function loadKubeConfig(path: string | undefined, requestTimeoutMs: number): KubeConfig {
  const kc = new TimedKubeConfig(requestTimeoutMs);
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}
