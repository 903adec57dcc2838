import { describe, expect, it } from 'vitest';
import { backoffDelay, WATCH_BACKOFF } from '../src/runtime/backoff.ts';

describe('watch backoff', () => {
  it('doubles from 800 ms to a 30 s cap without jitter', () => {
    const schedule = Array.from({ length: 9 }, (_, attempt) =>
      backoffDelay(attempt, WATCH_BACKOFF, () => 0),
    );
    expect(schedule).toEqual([800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it('adds up to half a step of jitter, never past the cap', () => {
    expect(backoffDelay(0, WATCH_BACKOFF, () => 1)).toBe(1200);
    expect(backoffDelay(2, WATCH_BACKOFF, () => 0.5)).toBe(4000);
    expect(backoffDelay(5, WATCH_BACKOFF, () => 1)).toBe(30_000);
    expect(backoffDelay(1_000, WATCH_BACKOFF, () => 1)).toBe(30_000);
  });

  it('spreads the delays at the cap below it instead of clipping them all to it', () => {
    const atCap = [0.2, 0.5, 0.8].map((r) => backoffDelay(1_000, WATCH_BACKOFF, () => r));
    expect(atCap).toEqual([22_000, 25_000, 28_000]);
  });
});
