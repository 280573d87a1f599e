import { BreakerOpenError } from '../errors/breaker-open.error';
import { EventBusClosedError } from '../errors/event-bus-closed.error';
import type { BackoffOptions } from '../interfaces/listener-options.interface';
import type { ListenerCall } from '../routing/listener-entry';
import { ExponentialBackoff } from './backoff';
import { isThenable } from './thenable';
import type { TimerScope } from './timer-scope';

/** Told about each failed attempt that another one follows (not an error on the handle). */
export type RetryObserver = (attempt: number, error: unknown, delayMs: number, eventName: string | undefined) => void;

/**
 * docker/go-events' RetryingSink, bounded: a failed (thrown, rejected or timed-out) call is tried
 * again, up to `attempts` calls in all, waiting as `backoff` says between them: the n-th retry of
 * an event waits `baseMs * factor^(n-1)` (at most `maxMs`), the same schedule the redis-streams
 * driver uses for its redeliveries; each event starts from `baseMs`. Only the last
 * failure reaches the caller. A call that succeeds synchronously on its first attempt stays
 * synchronous; a retry makes the call a promise, which holds a sync listener's successors back.
 *
 * Not retried: `BreakerOpenError` (the breaker refused the call: `whenOpen: 'fail'` means fail fast)
 * and `EventBusClosedError` (shutdown). While waiting to retry, closing `timers` fails the event
 * with `EventBusClosedError` at once, and the listener is not called again (go-events' retrying
 * sink kept its sink alive after Close).
 */
export function withRetry(
  inner: ListenerCall,
  attempts: number,
  backoff: BackoffOptions | undefined,
  timers: TimerScope,
  settings: { readonly retryInProcess: boolean },
  onRetry: RetryObserver,
): ListenerCall {
  type Meta = Parameters<ListenerCall>[1];
  const attempt = (event: unknown, meta: Meta, name: string | undefined, n: number, schedule: ExponentialBackoff | undefined): unknown => {
    let result: unknown;
    // A tracked call counts its attempts in its meta (see CountedMeta).
    if (n > 1 && meta !== undefined && (meta as { counted?: true }).counted === true) (meta as { attempt: number }).attempt = n;
    try {
      result = inner(event, meta, name);
    } catch (err) {
      return failed(event, meta, name, n, err, schedule);
    }
    if (!isThenable(result)) return result;
    return Promise.resolve(result).then(undefined, (err: unknown) => failed(event, meta, name, n, err, schedule));
  };

  const failed = (
    event: unknown,
    meta: Meta,
    name: string | undefined,
    n: number,
    err: unknown,
    schedule: ExponentialBackoff | undefined,
  ): Promise<unknown> => {
    if (err instanceof BreakerOpenError || err instanceof EventBusClosedError || n >= attempts) throw err;
    // Made on the first failure only: an event that succeeds at once costs nothing.
    const eventBackoff = schedule ?? new ExponentialBackoff(backoff);
    const delayMs = eventBackoff.failure();
    if (!timers.isClosed) onRetry(n, err, delayMs, name);
    return timers.sleep(delayMs).then(
      () => attempt(event, meta, name, n + 1, eventBackoff),
      () => {
        throw closedWhileRetrying(err, n, attempts);
      },
    );
  };

  // Durable drivers retry by redelivery: one call per delivery there.
  return (event, meta, name) => (settings.retryInProcess ? attempt(event, meta, name, 1, undefined) : inner(event, meta, name));
}

function closedWhileRetrying(last: unknown, n: number, attempts: number): EventBusClosedError {
  const reason = last instanceof Error ? last.message : String(last);
  return new EventBusClosedError(
    `the listener was closed (bus shutting down or listener unregistered) while waiting to retry after attempt ${n} of ${attempts} failed: ${reason}`,
  );
}
