import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withTimeout } from '../../../lib/delivery/listener-timeout';
import { TimerScope } from '../../../lib/delivery/timer-scope';
import { EventBusClosedError, ListenerTimeoutError } from '../../../lib/errors';

describe('withTimeout', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const scope = () =>
    new TimerScope(
      () => new EventBusClosedError('closed'),
      () => undefined,
    );

  it('fails a call still pending after timeoutMs with ListenerTimeoutError, and ignores its late rejection', async () => {
    let timeouts = 0;
    let rejectLate!: (e: Error) => void;
    const call = withTimeout(
      () => new Promise((_, reject) => (rejectLate = reject)),
      50,
      scope(),
      () => timeouts++,
    );
    const outcome = (call('e') as Promise<unknown>).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(49);
    expect(timeouts).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    const error = await outcome;
    expect(error).toBeInstanceOf(ListenerTimeoutError);
    expect((error as ListenerTimeoutError).timeoutMs).toBe(50);
    expect(timeouts).toBe(1);
    rejectLate(new Error('late')); // must not surface as an unhandled rejection
  });

  it('passes a result in time through and clears its timer', async () => {
    const call = withTimeout(
      () => Promise.resolve('ok'),
      50,
      scope(),
      () => undefined,
    );
    await expect(call('e') as Promise<unknown>).resolves.toBe('ok');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('leaves synchronous calls synchronous (no timer)', () => {
    const call = withTimeout(
      () => 'sync',
      50,
      scope(),
      () => undefined,
    );
    expect(call('e')).toBe('sync');
    expect(vi.getTimerCount()).toBe(0);
    const throwing = withTimeout(
      () => {
        throw new Error('boom');
      },
      50,
      scope(),
      () => undefined,
    );
    expect(() => throwing('e')).toThrow('boom');
  });

  it('fails a pending call with the close error when its scope closes', async () => {
    const timers = scope();
    const call = withTimeout(
      () => new Promise(() => undefined),
      60_000,
      timers,
      () => undefined,
    );
    const outcome = (call('e') as Promise<unknown>).catch((e: unknown) => e);
    timers.close();
    expect(await outcome).toBeInstanceOf(EventBusClosedError);
    expect(vi.getTimerCount()).toBe(0);
  });
});
