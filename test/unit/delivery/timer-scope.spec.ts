import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TimerScope } from '../../../lib/delivery/timer-scope';

describe('TimerScope', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('fires timers, and close() clears the rest and fails their waits once each', async () => {
    let abandoned = 0;
    const scope = new TimerScope(
      () => new Error('closed'),
      () => abandoned++,
    );
    let fired = 0;
    scope.schedule(
      10,
      () => fired++,
      () => undefined,
    );
    const long = scope.sleep(60_000);
    const outcome = long.then(
      () => 'slept',
      (e: Error) => e.message,
    );
    await vi.advanceTimersByTimeAsync(10);
    expect(fired).toBe(1);
    expect(vi.getTimerCount()).toBe(1);
    scope.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(await outcome).toBe('closed');
    expect(abandoned).toBe(1);
    // After close a new wait fails at once.
    await expect(scope.sleep(5)).rejects.toThrow('closed');
    expect(abandoned).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cancel() clears a timer without firing or aborting', async () => {
    const scope = new TimerScope(
      () => new Error('closed'),
      () => undefined,
    );
    const fire = vi.fn();
    const abort = vi.fn();
    const cancel = scope.schedule(10, fire, abort);
    cancel();
    expect(vi.getTimerCount()).toBe(0);
    scope.close();
    await vi.advanceTimersByTimeAsync(100);
    expect(fire).not.toHaveBeenCalled();
    expect(abort).not.toHaveBeenCalled();
  });
});

describe('TimerScope timers', () => {
  it('are unref’d: they never keep the process alive', () => {
    const scope = new TimerScope(
      () => new Error('closed'),
      () => undefined,
    );
    const spy = vi.spyOn(globalThis, 'setTimeout');
    scope.schedule(
      1_000,
      () => undefined,
      () => undefined,
    );
    const timer = spy.mock.results[0]!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    spy.mockRestore();
    scope.close();
  });

  it('clamp delays above the setTimeout limit instead of firing at once', () => {
    vi.useFakeTimers();
    try {
      const scope = new TimerScope(
        () => new Error('closed'),
        () => undefined,
      );
      const fire = vi.fn();
      scope.schedule(Number.MAX_SAFE_INTEGER, fire, () => undefined);
      vi.advanceTimersByTime(1_000);
      expect(fire).not.toHaveBeenCalled();
      scope.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
