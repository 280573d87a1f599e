import { ListenerTimeoutError } from '../errors/listener-timeout.error';
import type { ListenerCall } from '../routing/listener-entry';
import { isThenable } from './thenable';
import type { TimerScope } from './timer-scope';

/**
 * Fails a call that has not settled within `timeoutMs` with `ListenerTimeoutError`. Applied per
 * attempt, inside retry and breaker, so a timeout counts as a failure for both. A listener cannot
 * be cancelled: a timed-out call runs on, and what it settles with later is ignored (and caught).
 * A call that returns synchronously is never timed out (it has already finished).
 */
export function withTimeout(inner: ListenerCall, timeoutMs: number, timers: TimerScope, onTimeout: () => void): ListenerCall {
  return (event, meta) => {
    const result = inner(event, meta);
    if (!isThenable(result)) return result;
    return new Promise<unknown>((resolve, reject) => {
      let settled = false;
      const cancel = timers.schedule(
        timeoutMs,
        () => {
          if (settled) return;
          settled = true;
          onTimeout();
          reject(new ListenerTimeoutError(timeoutMs));
        },
        (closed) => {
          if (settled) return;
          settled = true;
          reject(closed);
        },
      );
      result.then(
        (value) => {
          if (settled) return;
          settled = true;
          cancel();
          resolve(value);
        },
        (err: unknown) => {
          if (settled) return;
          settled = true;
          cancel();
          reject(err);
        },
      );
    });
  };
}
