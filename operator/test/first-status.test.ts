import { describe, expect, it } from 'vitest';
import type { ConditionInput } from '../src/controller/conditions.ts';
import { FIRST_STATUS_WAIT_MS, firstStatusWait } from '../src/controller/decisions.ts';

const created = '2026-01-01T00:00:00.000Z';
const after = (ms: number) => new Date(Date.parse(created) + ms);
const notReady = (reason: string): ConditionInput => ({
  type: 'Ready',
  status: 'False',
  reason,
  message: '',
});
const starting = { ready: 0, wanted: 1 };

describe("a new instance's first status", () => {
  it('waits while the engine pods start, until the wait since creation is up', () => {
    expect(firstStatusWait(notReady('NoActiveEngine'), starting, created, after(2000))).toBe(
      FIRST_STATUS_WAIT_MS - 2000,
    );
    expect(firstStatusWait(notReady('ActiveEngineNotReady'), starting, created, after(0))).toBe(
      FIRST_STATUS_WAIT_MS,
    );
    expect(
      firstStatusWait(notReady('NoActiveEngine'), starting, created, after(FIRST_STATUS_WAIT_MS)),
    ).toBe(0);
  });

  it('is written at once when every pod is ready, ready or not', () => {
    const up = { ready: 2, wanted: 2 };
    expect(firstStatusWait(notReady('NoActiveEngine'), up, created, after(1000))).toBe(0);
    const readyTrue: ConditionInput = {
      type: 'Ready',
      status: 'True',
      reason: 'Ready',
      message: '',
    };
    expect(firstStatusWait(readyTrue, up, created, after(1000))).toBe(0);
  });

  it('is written at once for anything but a normal start', () => {
    for (const reason of [
      'PostgresUnavailable',
      'ApplyFailed',
      'LockHeldElsewhere',
      'EngineRoleUnknown',
    ])
      expect(firstStatusWait(notReady(reason), starting, created, after(1000))).toBe(0);
  });

  it('never waits longer than the wait, whatever the clocks say', () => {
    expect(firstStatusWait(notReady('NoActiveEngine'), starting, created, after(-60_000))).toBe(
      FIRST_STATUS_WAIT_MS,
    );
  });
});
