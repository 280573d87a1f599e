import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withRetry } from '../../../lib/delivery/retry-policy';
import { TimerScope } from '../../../lib/delivery/timer-scope';
import { BreakerOpenError, EventBusClosedError } from '../../../lib/errors';
import type { BackoffOptions } from '../../../lib/interfaces/listener-options.interface';

function setup(
  attempts: number,
  listener: (event: unknown) => unknown,
  backoff: BackoffOptions = { baseMs: 100, factor: 2, maxMs: 1_000 },
) {
  const retries: Array<{ attempt: number; delayMs: number; error: unknown }> = [];
  let abandoned = 0;
  const timers = new TimerScope(
    () => new EventBusClosedError('closed'),
    () => abandoned++,
  );
  const call = withRetry(listener, attempts, backoff, timers, { retryInProcess: true }, (attempt, error, delayMs) =>
    retries.push({ attempt, error, delayMs }),
  );
  return { call, retries, timers, abandoned: () => abandoned };
}

describe('withRetry', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('stays synchronous when the first attempt succeeds synchronously', () => {
    const { call, retries } = setup(3, (e) => `ok:${String(e)}`);
    expect(call('x')).toBe('ok:x');
    expect(retries).toEqual([]);
  });

  it('retries a synchronous throw after the backoff and resolves with the later success', async () => {
    let calls = 0;
    const { call, retries } = setup(5, () => {
      if (++calls < 3) throw new Error(`fail ${calls}`);
      return 'done';
    });
    const result = call('e') as Promise<unknown>;
    expect(result).toBeInstanceOf(Promise);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(99);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await vi.advanceTimersByTimeAsync(200);
    await expect(result).resolves.toBe('done');
    expect(retries.map((r) => [r.attempt, r.delayMs, (r.error as Error).message])).toEqual([
      [1, 100, 'fail 1'],
      [2, 200, 'fail 2'],
    ]);
  });

  it('rejects with the last failure only, after `attempts` calls in all', async () => {
    let calls = 0;
    const { call, retries } = setup(3, () => Promise.reject(new Error(`fail ${++calls}`)));
    const result = call('e') as Promise<unknown>;
    const outcome = result.catch((e: Error) => e.message);
    await vi.runAllTimersAsync();
    expect(await outcome).toBe('fail 3');
    expect(calls).toBe(3);
    expect(retries).toHaveLength(2);
  });

  it('throws synchronously when a single sync attempt fails (attempts 1)', () => {
    const { call } = setup(1, () => {
      throw new Error('once');
    });
    expect(() => call('e')).toThrow('once');
  });

  it('does not retry BreakerOpenError or EventBusClosedError', async () => {
    let calls = 0;
    const breaker = setup(5, () => {
      calls++;
      throw new BreakerOpenError(3, Date.now() + 1_000);
    });
    expect(() => breaker.call('e')).toThrow(BreakerOpenError);
    const closed = setup(5, () => {
      calls++;
      return Promise.reject(new EventBusClosedError());
    });
    await expect(closed.call('e') as Promise<unknown>).rejects.toBeInstanceOf(EventBusClosedError);
    expect(calls).toBe(2);
  });

  it("gives each event its own schedule from baseMs: a failed or a concurrent event does not lengthen another's wait", async () => {
    let fail = true;
    const { call, retries } = setup(3, () => {
      if (fail) throw new Error('down');
      return 'up';
    });
    const a = (call('a') as Promise<unknown>).catch(() => 'a failed');
    const b = (call('b') as Promise<unknown>).catch(() => 'b failed');
    await vi.runAllTimersAsync();
    expect([await a, await b]).toEqual(['a failed', 'b failed']);
    expect(retries.map((r) => r.delayMs)).toEqual([100, 100, 200, 200]);
    const c = (call('c') as Promise<unknown>).catch(() => 'c failed');
    await vi.advanceTimersByTimeAsync(100);
    fail = false;
    await vi.advanceTimersByTimeAsync(200);
    expect(await c).toBe('up');
    expect(retries.map((r) => r.delayMs)).toEqual([100, 100, 200, 200, 100, 200]);
  });

  it('on close, an event waiting to retry fails with EventBusClosedError and the listener is not called again (go-events leaked its sink)', async () => {
    let calls = 0;
    const s = setup(10, () => {
      calls++;
      throw new Error('down');
    });
    const outcome = (s.call('e') as Promise<unknown>).catch((e: unknown) => e);
    expect(vi.getTimerCount()).toBe(1);
    s.timers.close();
    const error = await outcome;
    expect(error).toBeInstanceOf(EventBusClosedError);
    expect((error as Error).message).toMatch(/while waiting to retry after attempt 1 of 10 failed: down/);
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(1);
    expect(s.abandoned()).toBe(1);
  });
});
