import { describe, expect, it } from 'vitest';
import { backoffDelay, backoffSchedule, ExponentialBackoff, jitteredBackoffDelay } from '../../../lib/delivery/backoff';

describe('ExponentialBackoff', () => {
  it('waits nothing before any failure, then baseMs * factor^(n-1) up to maxMs', () => {
    const b = new ExponentialBackoff({ baseMs: 100, factor: 2, maxMs: 1_000 });
    expect(b.current()).toBe(0);
    expect([b.failure(), b.failure(), b.failure(), b.failure(), b.failure(), b.failure()]).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('stays finite, >= 0 and <= maxMs over 10 000 failures (go-events overflows after ~34)', () => {
    const b = new ExponentialBackoff({ baseMs: 2, factor: 2, maxMs: 5_000 });
    let last = 0;
    for (let i = 1; i <= 10_000; i++) {
      const d = b.failure();
      expect(Number.isFinite(d)).toBe(true);
      expect(d).toBeGreaterThanOrEqual(last);
      expect(d).toBeLessThanOrEqual(5_000);
      last = d;
    }
    expect(last).toBe(5_000);
    expect(b.consecutiveFailures).toBe(10_000);
  });

  it('bounds jittered delays in [0, delay] on every sample, after every failure count', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const b = new ExponentialBackoff({ baseMs: 1, factor: 3, maxMs: 250, jitter: true }, random);
    for (let i = 1; i <= 2_000; i++) {
      b.failure();
      const bound = b.delayFor(i);
      for (let j = 0; j < 5; j++) {
        const d = b.current();
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThanOrEqual(bound);
      }
    }
    // A broken random source cannot push it out of bounds either.
    const wild = new ExponentialBackoff({ baseMs: 10, maxMs: 100, jitter: true }, () => Number.NaN);
    expect(wild.failure()).toBe(0);
    const big = new ExponentialBackoff({ baseMs: 10, maxMs: 100, jitter: true }, () => 7);
    expect(big.failure()).toBe(10);
  });

  it('resets after a success: the next failure waits baseMs again', () => {
    const b = new ExponentialBackoff({ baseMs: 50, factor: 2, maxMs: 60_000 });
    for (let i = 0; i < 10_000; i++) b.failure();
    expect(b.current()).toBe(60_000);
    b.success();
    expect(b.current()).toBe(0);
    expect(b.failure()).toBe(50);
  });

  it('keeps pathological inputs bounded (huge factor, factor 1, baseMs 0, any failure count)', () => {
    expect(new ExponentialBackoff({ baseMs: 1, factor: 1e308, maxMs: 9 }).delayFor(3)).toBe(9);
    expect(new ExponentialBackoff({ baseMs: 5, factor: 1, maxMs: 9 }).delayFor(1e9)).toBe(5);
    expect(new ExponentialBackoff({ baseMs: 0, factor: 2, maxMs: 9 }).delayFor(1e9)).toBe(0);
    const b = new ExponentialBackoff({ baseMs: 3, maxMs: 9 });
    for (const n of [Number.MAX_SAFE_INTEGER, Number.POSITIVE_INFINITY, -1, 0, Number.NaN]) {
      const d = b.delayFor(n);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(9);
    }
  });

  it('defaults to 100 ms doubling up to 10 s', () => {
    const b = new ExponentialBackoff();
    expect(b.failure()).toBe(100);
    expect(b.failure()).toBe(200);
    expect(b.delayFor(1_000)).toBe(10_000);
  });
});

describe('backoffDelay (the one schedule: in-process retries and redis-streams redeliveries)', () => {
  it('grows by factor from baseMs, is capped at maxMs and never overflows', () => {
    const schedule = backoffSchedule({ baseMs: 100, factor: 2, maxMs: 1000 });
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(schedule, n))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(schedule, 10_000)).toBe(1000);
    expect(backoffDelay(backoffSchedule(undefined), 1)).toBe(100);
    expect(backoffDelay(backoffSchedule({ factor: 10 }), 2000)).toBe(10_000);
  });

  it('with jitter stays within [0, delay]', () => {
    for (let i = 0; i < 50; i++) {
      const d = jitteredBackoffDelay(backoffSchedule({ baseMs: 100, jitter: true }), 3);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(400);
    }
  });

  it('a baseMs above the default maxMs is waited in full (the cap rises to baseMs)', () => {
    expect(backoffDelay(backoffSchedule({ baseMs: 20_000 }), 1)).toBe(20_000);
    expect(backoffDelay(backoffSchedule({ baseMs: 20_000 }), 5)).toBe(20_000);
    expect(new ExponentialBackoff({ baseMs: 20_000 }).failure()).toBe(20_000);
  });
});
