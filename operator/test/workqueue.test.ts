import { describe, expect, it, vi } from 'vitest';
import { type ControllerMetrics, createControllerMetrics } from '../src/runtime/metrics.ts';
import {
  LOW_LANE_SHARE,
  namespaceOf,
  nextLane,
  type ReconcileResult,
  WorkQueue,
} from '../src/runtime/workqueue.ts';

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
  it('starts a key added by one listener of an event only after every listener has run', async () => {
    const seen: string[] = [];
    let state = 'before the later listeners';
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.start(async () => {
      seen.push(state);
      return undefined;
    });
    // A cache's listeners in turn: the queue's first, an index the reconcile reads after it.
    queue.add('a');
    state = 'after every listener';
    await queue.idle();
    expect(seen).toEqual(['after every listener']);
  });

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
      random: () => 0,
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

  it('spreads the retries of keys that failed together, within the cap', async () => {
    const draws = [0, 0.5, 0.99];
    const queue = new WorkQueue({
      name: 't',
      concurrency: 1,
      baseBackoffMs: 100,
      maxBackoffMs: 120,
      random: () => draws.shift() ?? 0,
    });
    expect([queue.backoffFor('a'), queue.backoffFor('b'), queue.backoffFor('c')]).toEqual([
      100, 100, 120,
    ]);
    const spread = new WorkQueue({ name: 't', concurrency: 1, baseBackoffMs: 1000 });
    const delays = new Set(Array.from({ length: 20 }, () => spread.backoffFor('a')));
    expect(delays.size).toBeGreaterThan(10);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(1500);
  });

  it('requeues after requeueAfterMs without counting a failure, an earlier add superseding it', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1, random: () => 0 });
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

describe('WorkQueue lanes', () => {
  it('takes high keys before low ones, and low ones in the order they came', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.add('ns/resync-1', 'low');
    queue.add('ns/resync-2', 'low');
    queue.add('ns/new');
    queue.start(g.reconcile);
    for (const key of ['ns/new', 'ns/resync-1', 'ns/resync-2']) await g.finish(key);
    await queue.idle();
    expect(g.calls).toEqual(['ns/new', 'ns/resync-1', 'ns/resync-2']);
  });

  it('raises a key waiting low when it is added high, and never lowers one', async () => {
    const g = gate();
    const metrics = createControllerMetrics();
    const queue = new WorkQueue({ name: 't', concurrency: 1, metrics });
    for (const key of ['ns/a', 'ns/b', 'ns/c']) queue.add(key, 'low');
    queue.add('ns/c');
    queue.add('ns/d');
    queue.add('ns/d', 'low');
    expect(queue.depth).toBe(4);
    expect(await depthByLane(metrics)).toEqual({ high: 2, low: 2 });
    expect((await metrics.adds.get()).values[0]?.value).toBe(4);
    queue.start(g.reconcile);
    for (const key of ['ns/c', 'ns/d', 'ns/a', 'ns/b']) await g.finish(key);
    await queue.idle();
    expect(g.calls).toEqual(['ns/c', 'ns/d', 'ns/a', 'ns/b']);
    expect(await depthByLane(metrics)).toEqual({ high: 0, low: 0 });
  });

  it(`gives the low lane one key in every ${LOW_LANE_SHARE} while high keys keep coming`, async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.add('ns/low-1', 'low');
    queue.add('ns/low-2', 'low');
    for (let i = 0; i < 3 * LOW_LANE_SHARE; i++) queue.add(`ns/high-${i}`);
    queue.start(g.reconcile);
    while (g.running().length > 0) await g.finish(g.running()[0] as string);
    await queue.idle();
    expect(g.calls.indexOf('ns/low-1')).toBe(LOW_LANE_SHARE - 1);
    expect(g.calls.indexOf('ns/low-2')).toBe(2 * LOW_LANE_SHARE - 1);
  });

  it('takes the namespaces in turn, so that a burst in one does not hold back another', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    for (let i = 0; i < 4; i++) queue.add(`burst/b-${i}`);
    queue.add('bench/probe');
    queue.add('other/x');
    queue.start(g.reconcile);
    while (g.running().length > 0) await g.finish(g.running()[0] as string);
    await queue.idle();
    expect(g.calls).toEqual([
      'burst/b-0',
      'bench/probe',
      'other/x',
      'burst/b-1',
      'burst/b-2',
      'burst/b-3',
    ]);
  });

  it('reruns a key dirtied while it runs in the higher of the lanes it was asked for', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.start(g.reconcile);
    queue.add('ns/a', 'low');
    await tick();
    queue.add('ns/waiting', 'low');
    queue.add('ns/a');
    queue.add('ns/a', 'low');
    await g.finish('ns/a');
    expect(g.running()).toEqual(['ns/a']);
    await g.finish('ns/a');
    await g.finish('ns/waiting');
    await queue.idle();
    expect(g.calls).toEqual(['ns/a', 'ns/a', 'ns/waiting']);
  });

  it('queues a delayed key in the lane it asked for', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.start(g.reconcile);
    queue.add('ns/busy');
    await tick();
    queue.add('ns/low', 'low');
    queue.addAfter('ns/later-low', 5, 'low');
    queue.addAfter('ns/later-high', 5, 'high');
    await vi.waitFor(() => expect(queue.depth).toBe(3));
    await g.finish('ns/busy');
    for (const key of ['ns/later-high', 'ns/low', 'ns/later-low']) await g.finish(key);
    await queue.idle();
    expect(g.calls).toEqual(['ns/busy', 'ns/later-high', 'ns/low', 'ns/later-low']);
  });

  it('keeps the earlier time and the higher lane of two delays for one key', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1 });
    queue.start(g.reconcile);
    queue.add('ns/busy');
    await tick();
    queue.addAfter('ns/a', 60_000, 'high');
    queue.addAfter('ns/a', 5, 'low');
    queue.add('ns/low', 'low');
    await vi.waitFor(() => expect(queue.depth).toBe(2));
    await g.finish('ns/busy');
    await g.finish('ns/a');
    await g.finish('ns/low');
    await queue.idle();
    expect(g.calls).toEqual(['ns/busy', 'ns/a', 'ns/low']);
  });

  it('brings a key back low after requeueAfterMs, and retries a failure in the lane it ran in', async () => {
    const g = gate();
    const queue = new WorkQueue({ name: 't', concurrency: 1, baseBackoffMs: 5 });
    queue.start(g.reconcile);
    queue.add('ns/requeued');
    await tick();
    queue.add('ns/busy');
    await g.finish('ns/requeued', { requeueAfterMs: 5 });
    queue.add('ns/failing');
    await vi.waitFor(() => expect(queue.depth).toBe(2));
    await g.finish('ns/busy');
    expect(g.running()).toEqual(['ns/failing']);
    queue.add('ns/busy');
    await g.finish('ns/failing', new Error('boom'));
    await vi.waitFor(() => expect(queue.depth).toBe(2));
    queue.add('ns/high');
    await g.finish('ns/busy');
    for (const key of ['ns/failing', 'ns/high', 'ns/requeued']) await g.finish(key);
    await queue.idle();
    expect(g.calls).toEqual([
      'ns/requeued',
      'ns/busy',
      'ns/failing',
      'ns/busy',
      'ns/failing',
      'ns/high',
      'ns/requeued',
    ]);
  });
});

describe('nextLane', () => {
  it('is high while high keys wait, low when only low ones do, none when nothing does', () => {
    expect(nextLane(1, 5, 0)).toBe('high');
    expect(nextLane(0, 5, 0)).toBe('low');
    expect(nextLane(0, 0, 0)).toBeUndefined();
  });

  it(`is low after ${LOW_LANE_SHARE - 1} high keys in a row while low ones waited`, () => {
    expect(nextLane(3, 1, LOW_LANE_SHARE - 2)).toBe('high');
    expect(nextLane(3, 1, LOW_LANE_SHARE - 1)).toBe('low');
    expect(nextLane(3, 0, LOW_LANE_SHARE - 1)).toBe('high');
  });
});

describe('namespaceOf', () => {
  it('is the part of the key before the slash, or empty', () => {
    expect(namespaceOf('tenant-a/engine')).toBe('tenant-a');
    expect(namespaceOf('engine')).toBe('');
  });
});

async function depthByLane(metrics: ControllerMetrics): Promise<Record<string, number>> {
  const { values } = await metrics.depth.get();
  return Object.fromEntries(values.map(({ labels, value }) => [labels.priority, value]));
}
