import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CircuitBreaker } from '../../../lib/delivery/circuit-breaker';
import { TimerScope } from '../../../lib/delivery/timer-scope';
import { BreakerOpenError, EventBusClosedError } from '../../../lib/errors';

function setup(whenOpen: 'fail' | 'hold', listener: (event: unknown) => unknown, threshold = 2, cooldownMs = 1_000) {
  const counts = { opened: 0, rejected: 0, abandoned: 0 };
  const closedError = () => new EventBusClosedError('closed');
  const timers = new TimerScope(closedError, () => counts.abandoned++);
  const breaker = new CircuitBreaker(
    { threshold, cooldownMs, whenOpen },
    timers,
    { opened: () => counts.opened++, rejected: () => counts.rejected++, abandoned: () => counts.abandoned++ },
    closedError,
  );
  return { breaker, call: breaker.wrap(listener), counts, timers };
}

const settle = (value: unknown): Promise<unknown> =>
  Promise.resolve(value).then(
    (v) => ['ok', v],
    (e: unknown) => ['err', e],
  );
const attempt = (call: (e: unknown) => unknown, e: unknown): Promise<unknown> => {
  try {
    return settle(call(e));
  } catch (err) {
    return Promise.resolve(['err', err]);
  }
};

describe('CircuitBreaker', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("opens after `threshold` consecutive failures; 'fail' then rejects with BreakerOpenError without calling the listener", async () => {
    const calls: unknown[] = [];
    const { breaker, call, counts } = setup('fail', (e) => {
      calls.push(e);
      throw new Error('down');
    });
    await attempt(call, 1);
    expect(breaker.state).toBe('closed');
    await attempt(call, 2);
    expect(breaker.state).toBe('open');
    expect(counts.opened).toBe(1);
    const [kind, error] = (await attempt(call, 3)) as [string, BreakerOpenError];
    expect(kind).toBe('err');
    expect(error).toBeInstanceOf(BreakerOpenError);
    expect(error.failures).toBe(2);
    expect(error.retryAtMs).toBe(Date.now() + 1_000);
    expect(calls).toEqual([1, 2]);
    expect(counts.rejected).toBe(1);
  });

  it('lets one trial through after the cooldown; its success closes the breaker', async () => {
    let healthy = false;
    const calls: unknown[] = [];
    const { breaker, call } = setup('fail', (e) => {
      calls.push(e);
      if (!healthy) throw new Error('down');
      return 'ok';
    });
    await attempt(call, 1);
    await attempt(call, 2);
    await vi.advanceTimersByTimeAsync(999);
    expect(breaker.state).toBe('open');
    await vi.advanceTimersByTimeAsync(1);
    expect(breaker.state).toBe('half-open');
    healthy = true;
    expect(call(3)).toBe('ok');
    expect(breaker.state).toBe('closed');
    expect(breaker.consecutiveFailures).toBe(0);
    expect(call(4)).toBe('ok');
    expect(calls).toEqual([1, 2, 3, 4]);
  });

  it('a failed trial opens it again for another cooldown', async () => {
    const { breaker, call, counts } = setup('fail', () => Promise.reject(new Error('down')));
    await attempt(call, 1);
    await attempt(call, 2);
    await vi.advanceTimersByTimeAsync(1_000);
    await attempt(call, 3);
    expect(breaker.state).toBe('open');
    expect(counts.opened).toBe(2);
  });

  it("while the one trial runs, 'fail' rejects other events", async () => {
    let release!: () => void;
    let n = 0;
    const { call } = setup('fail', () => {
      if (++n <= 2) throw new Error('down');
      return new Promise<void>((r) => (release = r));
    });
    await attempt(call, 1);
    await attempt(call, 2);
    await vi.advanceTimersByTimeAsync(1_000);
    const trial = attempt(call, 3);
    const [kind, err] = (await attempt(call, 4)) as [string, unknown];
    expect([kind, err instanceof BreakerOpenError]).toEqual(['err', true]);
    release();
    expect(await trial).toEqual(['ok', undefined]);
  });

  it("'hold' keeps events until the cooldown, then delivers them (one trial first, the rest after its success)", async () => {
    let healthy = false;
    const calls: unknown[] = [];
    const { call, counts } = setup('hold', async (e) => {
      calls.push(e);
      if (!healthy) throw new Error('down');
    });
    await attempt(call, 1);
    await attempt(call, 2);
    const held = [attempt(call, 3), attempt(call, 4), attempt(call, 5)];
    await vi.advanceTimersByTimeAsync(500);
    expect(calls).toEqual([1, 2]);
    healthy = true;
    await vi.advanceTimersByTimeAsync(500);
    expect(await Promise.all(held)).toEqual([
      ['ok', undefined],
      ['ok', undefined],
      ['ok', undefined],
    ]);
    expect(calls.slice(2).sort()).toEqual([3, 4, 5]);
    expect(counts.rejected).toBe(0);
  });

  it("'hold' waits through a failed trial and another cooldown", async () => {
    let n = 0;
    const { call } = setup('hold', () => {
      if (++n <= 3) throw new Error(`down ${n}`);
      return 'ok';
    });
    await attempt(call, 1);
    await attempt(call, 2);
    const trial = attempt(call, 3); // held; becomes the trial at 1000 ms and fails
    const later = attempt(call, 4); // held behind the trial, then another cooldown
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await trial).toEqual(['err', new Error('down 3')]);
    expect(n).toBe(3);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await later).toEqual(['ok', 'ok']);
  });

  it('close() fails held events with the close error and leaves no timer', async () => {
    let release!: () => void;
    let n = 0;
    const { breaker, call, timers, counts } = setup('hold', () => {
      if (++n <= 2) throw new Error('down');
      return new Promise<void>((r) => (release = r));
    });
    await attempt(call, 1);
    await attempt(call, 2);
    const cooling = attempt(call, 3);
    await vi.advanceTimersByTimeAsync(1_000); // 3 becomes the trial and hangs
    const behindTrial = attempt(call, 4);
    await vi.advanceTimersByTimeAsync(0);
    breaker.close();
    timers.close();
    const [kind, err] = (await behindTrial) as [string, unknown];
    expect([kind, err instanceof EventBusClosedError]).toEqual(['err', true]);
    expect(counts.abandoned).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
    release();
    await cooling;
  });
});
