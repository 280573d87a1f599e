import { EventBusClosedError } from '../errors/event-bus-closed.error';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import type { ListenerCall } from '../routing/listener-entry';
import { BoundedQueue, DEFAULT_MAX_QUEUE } from './bounded-queue';
import { CircuitBreaker } from './circuit-breaker';
import { withFilter } from './event-filter';
import { withTimeout } from './listener-timeout';
import { withRetry } from './retry-policy';
import { TimerScope } from './timer-scope';

/** What delivery policies count on `bus.stats()` (every event they keep from a listener is one). */
export type DeliveryCounter =
  /** Calls failed with `ListenerTimeoutError` (each attempt counts). */
  | 'timeouts'
  /** Events failed with `QueueFullError` (`'reject'` or `'drop-oldest'`). */
  | 'queueOverflows'
  /** Events failed with `BreakerOpenError` (`whenOpen: 'fail'`). */
  | 'breakerRejections'
  /** Times a breaker opened. */
  | 'breakerOpens'
  /** Events a listener's `filter` kept from it (not errors). */
  | 'filtered'
  /** Events failed with `EventBusClosedError` because the listener closed while they waited. */
  | 'abandonedOnClose';

/** How policies report what is not an error on a handle (retries) and what they count. */
export interface DeliveryHooks {
  /** An attempt failed and another follows after `delayMs`; `eventName` when the caller passed it. */
  retrying(listener: string, attempt: number, error: unknown, delayMs: number, eventName: string | undefined): void;
  /** One more of `counter`. */
  count(counter: DeliveryCounter, listener: string): void;
}

export interface DeliveryPipelineSettings {
  /**
   * False on durable drivers: their retries are redeliveries, not in-process loops. Read again on
   * each call, so a listener registered before the driver was known follows it.
   */
  retryInProcess: boolean;
}

/** A listener call wrapped in its delivery policies (§9). */
export interface DeliveryPipeline {
  readonly call: ListenerCall;
  /**
   * `call` is the listener's own call, with no policy around it: it must be given two arguments,
   * never the event name (a bound method would hand that on to the listener).
   */
  readonly plain?: boolean;
  /** Fails what is queued or waiting with `EventBusClosedError` and stops timers; never waits for running calls. */
  close(): Promise<void>;
}

const NOTHING_TO_CLOSE = (): Promise<void> => Promise.resolve();

/** The listener as the policies call it: the event name they pass along stops here (the listener takes event and meta). */
function twoArguments(call: ListenerCall): ListenerCall {
  return (event, meta) => call(event, meta);
}

/**
 * Wraps `call` in the listener's policies. With no policy it returns `call` itself, so the
 * default path costs nothing. From the outside in:
 *
 *   filter → queue (concurrency, maxQueue) → retry (backoff) → breaker → timeout → listener
 *
 * - filter first: a filtered event takes no slot and is never an error;
 * - the queue around retry: a call keeps its slot while it waits to retry or for the breaker;
 * - breaker and timeout per attempt: each attempt counts for the breaker, a timed-out one too.
 */
export function createDeliveryPipeline(
  call: ListenerCall,
  options: ListenerOptions,
  listener: string,
  hooks: DeliveryHooks,
  settings: DeliveryPipelineSettings,
): DeliveryPipeline {
  // On durable drivers the driver redelivers instead (retry.attempts overrides its maxAttempts).
  const retry = settings.retryInProcess && options.retry !== undefined && options.retry.attempts > 1 ? options.retry : undefined;
  const { breaker: breakerOptions, concurrency, timeoutMs, filter } = options;
  if (retry === undefined && breakerOptions === undefined && concurrency === undefined && timeoutMs === undefined) {
    if (filter === undefined) return { call, close: NOTHING_TO_CLOSE, plain: true };
    return { call: withFilter(twoArguments(call), filter, () => hooks.count('filtered', listener)), close: NOTHING_TO_CLOSE };
  }

  const closedError = (): Error =>
    new EventBusClosedError(
      `listener '${listener}' was closed (bus shutting down or listener unregistered) before this event was delivered to it`,
    );
  const abandoned = (): void => hooks.count('abandonedOnClose', listener);
  const timers = new TimerScope(closedError, abandoned);
  let closed = false;

  let step = twoArguments(call);
  if (timeoutMs !== undefined) step = withTimeout(step, timeoutMs, timers, () => hooks.count('timeouts', listener));
  let breaker: CircuitBreaker | undefined;
  if (breakerOptions !== undefined) {
    breaker = new CircuitBreaker(
      breakerOptions,
      timers,
      {
        opened: () => hooks.count('breakerOpens', listener),
        rejected: () => hooks.count('breakerRejections', listener),
        abandoned,
      },
      closedError,
    );
    step = breaker.wrap(step);
  }
  if (retry !== undefined) {
    step = withRetry(step, retry.attempts, retry.backoff, timers, settings, (attempt, error, delayMs, eventName) =>
      hooks.retrying(listener, attempt, error, delayMs, eventName),
    );
  }
  let queue: BoundedQueue | undefined;
  if (concurrency !== undefined) {
    queue = new BoundedQueue(
      step,
      { concurrency, maxQueue: options.maxQueue ?? DEFAULT_MAX_QUEUE, overflow: options.overflow ?? 'reject' },
      { overflowed: () => hooks.count('queueOverflows', listener), abandoned },
      closedError,
    );
    step = queue.call;
  }
  const inner = step;
  // The event name only matters to retry notices: without retry the call passes two arguments,
  // as the listener takes (the plain listener is the hot path of every dispatch).
  step =
    retry === undefined
      ? (event, meta) => {
          if (closed) throw closedError();
          return inner(event, meta);
        }
      : (event, meta, eventName) => {
          if (closed) throw closedError();
          return inner(event, meta, eventName);
        };
  if (filter !== undefined) step = withFilter(step, filter, () => hooks.count('filtered', listener));

  return {
    call: step,
    close: () => {
      closed = true;
      // Waiting events first (each fails once, where it waits); then every timer.
      queue?.close();
      breaker?.close();
      timers.close();
      return Promise.resolve();
    },
  };
}
