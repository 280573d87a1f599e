import { performance } from 'node:perf_hooks';
import type { BusObserver } from '../core/bus-observer';
import { callObserved } from '../core/local-dispatcher';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import type { DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import { callWatchedEntry, type ListenerEntry } from '../routing/listener-entry';
import type { ListenerOutcome } from './listener-outcome';

/**
 * The delivery meta a tracked call passes down when the driver gave none: the in-process retry loop
 * writes the attempt it is on into it (see `withRetry`), so the outcome can say how many calls it took.
 */
export interface CountedMeta {
  readonly id: string;
  attempt: number;
  readonly counted: true;
}

/**
 * What a tracked handle keeps: the outcome of every listener call that settled. Only tracked handles
 * have one (a plain dispatch allocates nothing for tracking).
 */
export class HandleTracking {
  constructor(
    readonly outcomes: ListenerOutcome[] = [],
    /** How long the publisher waits for remote reports (`trackRemote.timeoutMs`); undefined: the bus's default. */
    readonly timeoutMs?: number,
  ) {}

  record(listener: string, error: unknown, failed: boolean, attempts: number, durationMs: number): void {
    this.outcomes.push(
      failed
        ? { listener, origin: 'local', ok: false, error, attempts, durationMs }
        : { listener, origin: 'local', ok: true, attempts, durationMs },
    );
  }
}

/**
 * One listener call of a tracked handle: like a plain call (and told to the bus's observer, if any),
 * plus its outcome recorded. Returns what the listener returned, or a native promise that settles
 * like it; throws what it threw.
 */
export function callTracked(
  track: HandleTracking,
  observer: BusObserver | undefined,
  handle: DispatchHandle,
  entry: ListenerEntry,
  event: unknown,
  meta: DeliveryMeta | undefined,
): unknown {
  const counted: DeliveryMeta | CountedMeta = meta ?? { id: handle.id, attempt: 1, counted: true };
  const startedAt = performance.now();
  let result: unknown;
  try {
    if (observer !== undefined) result = callObserved(observer, handle, entry, event, counted);
    else result = callWatchedEntry(entry, event, counted, handle.eventName);
  } catch (err) {
    track.record(entry.name, err, true, counted.attempt, performance.now() - startedAt);
    throw err;
  }
  let thenable = false;
  try {
    thenable = result !== undefined && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
  } catch (err) {
    // A throwing `then` getter: the caller reads it again and fails the handle.
    track.record(entry.name, err, true, counted.attempt, performance.now() - startedAt);
    return result;
  }
  if (!thenable) {
    track.record(entry.name, undefined, false, counted.attempt, performance.now() - startedAt);
    return result;
  }
  return Promise.resolve(result).then(
    (value: unknown) => {
      track.record(entry.name, undefined, false, counted.attempt, performance.now() - startedAt);
      return value;
    },
    (err: unknown) => {
      track.record(entry.name, err, true, counted.attempt, performance.now() - startedAt);
      throw err;
    },
  );
}
