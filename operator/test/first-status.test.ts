import { describe, expect, it } from 'vitest';
import type { ConditionInput } from '../src/controller/conditions.ts';
import { FIRST_STATUS_WAIT_MS, firstStatusWait } from '../src/controller/decisions.ts';

const deployed = '2026-01-01T00:00:00.000Z';
const after = (ms: number) => new Date(Date.parse(deployed) + ms);
const notReady = (reason: string): ConditionInput => ({
  type: 'Ready',
  status: 'False',
  reason,
  message: '',
});
const starting = { ready: 0, wanted: 1 };

describe("a new instance's first status", () => {
  it('waits while the engine pods start, until the wait since its Deployment was made is up', () => {
    expect(firstStatusWait(notReady('NoActiveEngine'), starting, deployed, after(2000))).toBe(
      FIRST_STATUS_WAIT_MS - 2000,
    );
    expect(firstStatusWait(notReady('ActiveEngineNotReady'), starting, deployed, after(0))).toBe(
      FIRST_STATUS_WAIT_MS,
    );
    expect(
      firstStatusWait(notReady('NoActiveEngine'), starting, deployed, after(FIRST_STATUS_WAIT_MS)),
    ).toBe(0);
  });

  it('is written at once when every pod is ready, ready or not', () => {
    const up = { ready: 2, wanted: 2 };
    expect(firstStatusWait(notReady('NoActiveEngine'), up, deployed, after(1000))).toBe(0);
    const readyTrue: ConditionInput = {
      type: 'Ready',
      status: 'True',
      reason: 'Ready',
      message: '',
    };
    expect(firstStatusWait(readyTrue, up, deployed, after(1000))).toBe(0);
  });

  it('is written at once for anything but a normal start', () => {
    for (const reason of [
      'PostgresUnavailable',
      'ApplyFailed',
      'LockHeldElsewhere',
      'EngineRoleUnknown',
    ])
      expect(firstStatusWait(notReady(reason), starting, deployed, after(1000))).toBe(0);
  });

  it('never waits longer than the wait, whatever the clocks say', () => {
    expect(firstStatusWait(notReady('NoActiveEngine'), starting, deployed, after(-60_000))).toBe(
      FIRST_STATUS_WAIT_MS,
    );
  });

  it('waits the whole wait for a Deployment made a moment ago that the cache has not seen', () => {
    expect(firstStatusWait(notReady('NoActiveEngine'), starting, undefined, after(0))).toBe(
      FIRST_STATUS_WAIT_MS,
    );
    expect(firstStatusWait(notReady('PostgresUnavailable'), starting, undefined, after(0))).toBe(0);
  });
});
