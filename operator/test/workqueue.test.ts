import { describe, expect, it } from 'vitest';
import { type ReconcileResult, WorkQueue } from '../src/runtime/workqueue.ts';

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

/** A reconcile function whose calls stay running until released, one by one. */
function gate() {
  const calls: string[] = [];
  const pending = new Map<string, (result?: ReconcileResult | Error) => void>();
  let running = 0;
  let maxRunning = 0;
  const reconcile = (key: string) =>
    new Promise<ReconcileResult | undefined>((resolve, reject) => {
      calls.push(key);
      running++;
      maxRunning = Math.max(maxRunning, running);
      pending.set(key, (result) => {
        pending.delete(key);
        running--;
        if (result instanceof Error) reject(result);
        else resolve(result);
      });
    });
  const finish = async (key: string, result?: ReconcileResult | Error) => {
    const release = pending.get(key);
    if (!release) throw new Error(`${key} is not running`);
    release(result);
    await tick();
  };
  return {
    calls,
    reconcile,
    finish,
    running: () => [...pending.keys()],
    maxRunning: () => maxRunning,
  };
}

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.add('a');
    queue.add('b');
    queue.add('b');
    queue.add('a');
    queue.start(g.reconcile);
    await tick();
    expect(g.calls).toEqual(['a']);
    await g.finish('a');
    await g.finish('b');
    expect(g.calls).toEqual(['a', 'b']);
    await queue.idle();
  });

  it('runs a key added while it runs once more afterwards, never twice at once', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 4 });
    queue.start(g.reconcile);
    queue.add('a');
    await tick();
    queue.add('a');
    queue.add('a');
    await tick();
    expect(g.running()).toEqual(['a']);
    expect(g.calls).toEqual(['a']);
    await g.finish('a');
    expect(g.calls).toEqual(['a', 'a']);
    await g.finish('a');
    await queue.idle();
    expect(g.calls).toEqual(['a', 'a']);
  });

  it('runs at most `concurrency` keys at a time', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 2 });
    queue.start(g.reconcile);
    for (const key of ['a', 'b', 'c', 'd', 'e']) queue.add(key);
    await tick();
    expect(g.running()).toEqual(['a', 'b']);
    expect(queue.depth).toBe(3);
    await g.finish('a');
    expect(g.running()).toEqual(['b', 'c']);
    for (const key of ['b', 'c', 'd', 'e']) await g.finish(key);
    await queue.idle();
    expect(g.maxRunning()).toBe(2);
    expect(g.calls).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('backs a failing key off exponentially, per key, up to the cap, and forgets on success', async () => {
    const errors: [string, number][] = [];
    const g = gate();
    const queue = new WorkQueue({
      name: 't',
      concurrency: 2,
      baseBackoffMs: 10,
      maxBackoffMs: 40,
      onError: (key, _, retryInMs) => errors.push([key, retryInMs]),
    });
    queue.start(g.reconcile);
    queue.add('a');
    await tick();
    for (let i = 0; i < 4; i++) {
      await g.finish('a', new Error('boom'));
      await tick(60);
    }
    expect(errors).toEqual([
      ['a', 10],
      ['a', 20],
      ['a', 40],
      ['a', 40],
    ]);
    expect(queue.backoffFor('b')).toBe(10);
    await g.finish('a');
    expect(queue.backoffFor('a')).toBe(10);
    await queue.stop();
  });

  it('requeues after requeueAfterMs without counting a failure, an earlier add superseding it', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.start(g.reconcile);
    queue.add('a');
    await tick();
    await g.finish('a', { requeueAfterMs: 50 });
    await tick(20);
    expect(g.calls).toEqual(['a']);
    await tick(60);
    expect(g.calls).toEqual(['a', 'a']);
    await g.finish('a', { requeueAfterMs: 10_000 });
    queue.add('a');
    await tick();
    expect(g.calls).toEqual(['a', 'a', 'a']);
    expect(queue.backoffFor('a')).toBe(200);
    await g.finish('a');
    await queue.stop();
  });

  it('stop waits for the running reconciles only, not for the queue to empty', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.start(g.reconcile);
    queue.add('a');
    queue.add('b');
    await tick();
    let stopped: boolean | undefined;
    const stopping = queue.stop(5_000).then((drained) => {
      stopped = drained;
    });
    await tick(10);
    expect(stopped).toBeUndefined();
    await g.finish('a');
    await stopping;
    expect(stopped).toBe(true);
    // 'b' was queued, never started: it is left for the next leader.
    expect(g.calls).toEqual(['a']);
    expect(queue.depth).toBe(1);
  });

  it('stop gives up waiting after the drain timeout', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.start(g.reconcile);
    queue.add('a');
    await tick();
    const started = Date.now();
    expect(await queue.stop(50)).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(queue.active).toBe(1);
    await g.finish('a');
  });
});
