import type { KubernetesObject } from '@kubernetes/client-node';
import { API_VERSION, type InstanceStatus, KIND } from '../api/schema.ts';
import { FIELD_MANAGER } from '../builders/metadata.ts';
import { KubeApiError, type KubeClient } from './kube-client.ts';

/** Resource names that are not the kind in lower case plus "s". */
const PLURALS: Record<string, string> = {
  NetworkPolicy: 'networkpolicies',
  CustomResourceDefinition: 'customresourcedefinitions',
};

/** The plural resource name of a kind, as it appears in API paths. */
export const pluralOf = (kind: string) => PLURALS[kind] ?? `${kind.toLowerCase()}s`;

/**
 * The API path of a kind's collection (`name` omitted) or of one object:
 * core kinds under /api/v1, the others under /apis/group/version; all
 * namespaces (or a cluster-scoped kind) with namespace ''.
 */
export function resourcePath(
  apiVersion: string,
  kind: string,
  namespace: string,
  name?: string,
): string {
  const root = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const scope = namespace ? `/namespaces/${segment(namespace, 'namespace')}` : '';
  const object = name === undefined ? '' : `/${segment(name, `${kind} name`)}`;
  return `${root}${scope}/${pluralOf(kind)}${object}`;
}

/**
 * A name as one path segment. Names come from users' objects (a Secret an
 * instance names): `.` and `..` would be resolved away by URL parsing and
 * address another resource, so anything but a Kubernetes object name is
 * refused (Kubernetes itself refuses to store such names).
 */
function segment(value: string, what: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(value) || value.includes('..'))
    throw new Error(`${what} ${JSON.stringify(value)} is not a Kubernetes object name`);
  return value;
}

const pathOf = (object: KubernetesObject) =>
  resourcePath(
    object.apiVersion ?? '',
    object.kind ?? '',
    object.metadata?.namespace ?? '',
    object.metadata?.name ?? '',
  );

/** Whether an error is the API server saying 404 Not Found. */
export const isNotFound = (error: unknown) => error instanceof KubeApiError && error.code === 404;

/** An object's `namespace/name`: how caches, indexes and the work queue key it. */
export function objectKey(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/**
 * An object without its field managers' record (often half of it): the
 * operator reads none of it, and objects it wrote are kept for a while.
 */
export function withoutManagedFields<T extends KubernetesObject>(object: T): T {
  if (!object.metadata?.managedFields) return object;
  const { managedFields: _, ...metadata } = object.metadata;
  return { ...object, metadata };
}

/**
 * The operator's writes: server-side apply under its own field manager,
 * status through the /status subresource, finalizers with a JSON patch that
 * tests the list it replaces. Objects go out and come back as plain JSON.
 */
export class KubeWriter {
  private readonly client: KubeClient;
  /** Mutating requests made (sent, unless the client's fence held one back), by kind: the benchmarks read it. */
  readonly writes = new Map<string, number>();

  constructor(client: KubeClient) {
    this.client = client;
  }

  /** A JSON patch of an owned object, attributed to our field manager. */
  async jsonPatch<T extends KubernetesObject>(object: T, operations: object[]): Promise<T> {
    this.count(object.kind ?? 'unknown');
    const patched = await this.client.request<T>('PATCH', pathOf(object), {
      body: operations,
      contentType: 'application/json-patch+json',
      query: { fieldManager: FIELD_MANAGER },
    });
    return withoutManagedFields(patched);
  }

  /** Reads an object from the API server (not a cache); undefined when it does not exist. */
  async read<T extends KubernetesObject>(object: T): Promise<T | undefined> {
    try {
      return withoutManagedFields(await this.client.request<T>('GET', pathOf(object)));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Deletes an object the caller has checked is ours, if it is still the one
   * it read (a precondition on its uid). False when it is already gone.
   */
  async delete<T extends KubernetesObject>(object: T): Promise<boolean> {
    const uid = object.metadata?.uid;
    // Without a uid the precondition would be empty and the delete unconditional.
    if (!uid) throw new Error(`delete ${pathOf(object)}: the object read has no uid`);
    this.count(object.kind ?? 'unknown');
    try {
      await this.client.request('DELETE', pathOf(object), {
        body: {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          preconditions: { uid },
        },
      });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /** Server-side applies an object, taking ownership of the fields it sets. */
  async apply<T extends KubernetesObject>(object: T): Promise<T> {
    this.count(object.kind ?? 'unknown');
    const applied = await this.client.request<T>('PATCH', pathOf(object), {
      body: object,
      contentType: 'application/apply-patch+yaml',
      query: { fieldManager: FIELD_MANAGER, force: true },
    });
    return withoutManagedFields(applied);
  }

  /**
   * Creates an object only if nothing of its name exists, by server-side
   * apply: the apply carries resourceVersion "1" as a precondition, which no
   * object of ours can have (resourceVersions are etcd revisions, and etcd's
   * first write is revision 2; a SQL-backed store such as kine numbers rows,
   * and its first is written before any namespace exists). Over an existing
   * object it is a 409 and nothing is written; absent, the object is created
   * with its fields owned by the apply, so that later applies can drop them
   * (a POST would leave them to an update manager that keeps them).
   */
  async create<T extends KubernetesObject>(object: T): Promise<T> {
    return this.apply({ ...object, metadata: { ...object.metadata, resourceVersion: '1' } });
  }

  /** Applies an instance's status through the status subresource. */
  async applyStatus(
    namespace: string,
    name: string,
    status: InstanceStatus,
  ): Promise<KubernetesObject> {
    this.count(`${KIND}/status`);
    const written = await this.client.request<KubernetesObject>(
      'PATCH',
      `${resourcePath(API_VERSION, KIND, namespace, name)}/status`,
      {
        body: { apiVersion: API_VERSION, kind: KIND, metadata: { name, namespace }, status },
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: FIELD_MANAGER, force: true },
      },
    );
    return withoutManagedFields(written);
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
      await this.client.request('PATCH', resourcePath('v1', 'Pod', namespace, name), {
        body: { metadata: { labels: { [label]: value ?? null } } },
        contentType: 'application/merge-patch+json',
        query: { fieldManager: FIELD_MANAGER },
      });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  /**
   * Replaces an instance's finalizers, failing if they changed since
   * `expected` was read; with `expected` undefined (the instance had none),
   * failing if it has any now.
   */
  async setFinalizers(
    namespace: string,
    name: string,
    expected: string[] | undefined,
    finalizers: string[],
  ): Promise<void> {
    this.count(KIND);
    const patch =
      expected === undefined
        ? [
            // `add` would replace a list someone added meanwhile: test that there is none.
            { op: 'test', path: '/metadata/finalizers', value: null },
            { op: 'add', path: '/metadata/finalizers', value: finalizers },
          ]
        : [
            { op: 'test', path: '/metadata/finalizers', value: expected },
            { op: 'replace', path: '/metadata/finalizers', value: finalizers },
          ];
    await this.client.request('PATCH', resourcePath(API_VERSION, KIND, namespace, name), {
      body: patch,
      contentType: 'application/json-patch+json',
    });
  }

  private count(kind: string): void {
    this.writes.set(kind, (this.writes.get(kind) ?? 0) + 1);
  }
}
