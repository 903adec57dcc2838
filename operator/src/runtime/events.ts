import { FencedError } from '@tse/adapter';
import type { Logger } from 'pino';
import { resourcePath } from './kube.ts';
import type { KubeClient } from './kube-client.ts';

/** The object an Event is about. */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; uid: string };
}

/**
 * Records Kubernetes Events for people running `kubectl describe`. The same
 * reason and message for the same object is recorded once per quiet period,
 * so a converged cluster stays quiet.
 */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly recent = new Map<string, number>();
  private readonly component: string;
  private readonly log: Logger;
  private readonly quietMs: number;

  constructor(
    client: KubeClient,
    options: {
      component: string;
      log: Logger;
      quietMs?: number;
    },
  ) {
    this.client = client;
    this.component = options.component;
    this.log = options.log;
    this.quietMs = options.quietMs ?? 15 * 60_000;
  }

  record(target: EventTarget, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const key = `${target.metadata.uid}/${type}/${reason}/${message}`;
    const now = Date.now();
    if ((this.recent.get(key) ?? 0) > now - this.quietMs) return;
    this.recent.set(key, now);
    if (this.recent.size > 10_000) this.recent.delete(this.recent.keys().next().value as string);
    const { name, namespace, uid } = target.metadata;
    const time = new Date().toISOString();
    this.client
      .request('POST', resourcePath('v1', 'Event', namespace), {
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: {
            apiVersion: target.apiVersion,
            kind: target.kind,
            name,
            namespace,
            uid,
          },
          type,
          reason,
          message,
          source: { component: this.component },
          reportingComponent: this.component,
          reportingInstance: this.component,
          firstTimestamp: time,
          lastTimestamp: time,
          count: 1,
        },
      })
      .catch((error) => {
        // Held back by the client's fence: this replica no longer leads, the next leader will say it.
        if (!(error instanceof FencedError))
          this.log.warn({ err: error, reason }, 'could not record an event');
      });
  }
}
