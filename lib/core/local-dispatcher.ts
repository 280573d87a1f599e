import { performance } from 'node:perf_hooks';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import type { DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import { callWatchedEntry, type ListenerEntry } from '../routing/listener-entry';
import type { Route } from '../routing/listener-index';
import { callTracked } from '../tracking/handle-tracking';
import type { BusObserver, ObservedDelivery } from './bus-observer';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Runs the listeners of one route for one handle: sync ones now, one after another (a returned
 * promise holds the next one back); async ones together on the next microtask, after `dispatch()`
 * has returned. Every failure lands on the handle; nothing here throws or rejects.
 *
 * Hot path: the methods stay small so V8 inlines them into dispatch; what allocates a closure lives
 * in its own helper, off the path that needs none.
 */
export class LocalDispatcher {
  /** Set by the runtime when something observes the bus; read once per route. */
  observer: BusObserver | undefined = undefined;
  /**
   * Flat (handle, entry, event, meta) quadruples waiting for the next microtask: the first
   * `queued` slots of `asyncQueue`. Two arrays take turns (the one being run and the one filling),
   * and a run one is cleared slot by slot, never truncated or replaced: an awaited dispatch
   * allocates no array (a fresh one grew a 17-slot backing store every time) and calls no runtime
   * function (setting `length` is one).
   */
  private asyncQueue: unknown[] = [];
  private queued = 0;
  private spareQueue: unknown[] = [];
  private asyncScheduled = false;
  private readonly flushAsync = (): void => this.runAsyncQueue();

  run(handle: DispatchHandle, route: Route, event: unknown, meta: DeliveryMeta | undefined): void {
    if (route.async.length > 0) this.queueAsync(handle, route.async, event, meta);
    this.runSync(handle, route.sync, 0, event, meta);
  }

  private queueAsync(handle: DispatchHandle, asyncs: readonly ListenerEntry[], event: unknown, meta: DeliveryMeta | undefined): void {
    handle._pending += asyncs.length;
    const queue = this.asyncQueue;
    let n = this.queued;
    for (let i = 0; i < asyncs.length; i++) {
      queue[n] = handle;
      queue[n + 1] = asyncs[i];
      queue[n + 2] = event;
      queue[n + 3] = meta;
      n += 4;
    }
    this.queued = n;
    if (!this.asyncScheduled) {
      this.asyncScheduled = true;
      // A promise job, not queueMicrotask(): Node wraps that one in an AsyncResource per call.
      // runAsyncQueue() catches every listener failure, so this job never rejects.
      void RESOLVED.then(this.flushAsync);
    }
  }

  /** Sync listeners one after another; a returned promise holds the next one back until it settles. */
  private runSync(
    handle: DispatchHandle,
    list: readonly ListenerEntry[],
    from: number,
    event: unknown,
    meta: DeliveryMeta | undefined,
  ): void {
    // One test for both hooks keeps this loop small enough for V8 to inline it into dispatch.
    const watched = this.observer !== undefined || handle._track !== undefined;
    for (let i = from; i < list.length; i++) {
      const entry = list[i];
      if (!entry.active) continue;
      let result: unknown;
      let thenable: boolean;
      try {
        result = watched ? this.callWatched(handle, entry, event, meta) : entry.call(event, meta);
        // Inside the try: reading `then` runs a getter on a foreign object, which may throw.
        thenable = result !== undefined && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
      } catch (err) {
        handle._fail(entry.name, err);
        continue;
      }
      if (thenable) {
        if (this.continueSyncAfter(result as PromiseLike<unknown>, handle, entry, list, i + 1, event, meta)) return;
      }
    }
    handle._release();
  }

  /** Runs the rest of the sync chain once `pending` settles; false when `then` itself threw. */
  private continueSyncAfter(
    pending: PromiseLike<unknown>,
    handle: DispatchHandle,
    entry: ListenerEntry,
    list: readonly ListenerEntry[],
    next: number,
    event: unknown,
    meta: DeliveryMeta | undefined,
  ): boolean {
    try {
      // Promise.resolve() adopts a foreign thenable once (a second call or a throw after it is ignored);
      // a native promise passes through as itself.
      Promise.resolve(pending).then(
        () => this.runSync(handle, list, next, event, meta),
        (err: unknown) => {
          handle._fail(entry.name, err);
          this.runSync(handle, list, next, event, meta);
        },
      );
      return true;
    } catch (err) {
      handle._fail(entry.name, err);
      return false;
    }
  }

  /** A listener call that something watches: an observer (recorder, board, telemetry) or remote tracking. */
  private callWatched(handle: DispatchHandle, entry: ListenerEntry, event: unknown, meta: DeliveryMeta | undefined): unknown {
    const track = handle._track;
    if (track !== undefined) return callTracked(track, this.observer, handle, entry, event, meta);
    return callObserved(this.observer!, handle, entry, event, meta);
  }

  private runAsyncQueue(): void {
    this.asyncScheduled = false;
    const queue = this.asyncQueue;
    const n = this.queued;
    // Listeners dispatching from here queue into the other array, for the next microtask.
    this.asyncQueue = this.spareQueue;
    this.queued = 0;
    for (let i = 0; i < n; i += 4) {
      this.runAsync(queue[i] as DispatchHandle, queue[i + 1] as ListenerEntry, queue[i + 2], queue[i + 3] as DeliveryMeta | undefined);
    }
    // Drop the references (events and handles must not outlive their run); keep the slots.
    for (let i = 0; i < n; i++) queue[i] = undefined;
    this.spareQueue = queue;
  }

  private runAsync(handle: DispatchHandle, entry: ListenerEntry, event: unknown, meta: DeliveryMeta | undefined): void {
    if (!entry.active) {
      handle._releaseInJob();
      return;
    }
    let result: unknown;
    let thenable: boolean;
    try {
      result =
        this.observer !== undefined || handle._track !== undefined ? this.callWatched(handle, entry, event, meta) : entry.call(event, meta);
      // Inside the try: a throwing `then` getter would otherwise abort the whole async queue.
      thenable = result !== undefined && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
    } catch (err) {
      handle._fail(entry.name, err);
      handle._releaseInJob();
      return;
    }
    if (thenable) {
      if (this.releaseAfter(result as PromiseLike<unknown>, handle, entry)) return;
    }
    handle._releaseInJob();
  }

  /** Releases `handle` once `pending` settles; false when `then` itself threw. */
  private releaseAfter(pending: PromiseLike<unknown>, handle: DispatchHandle, entry: ListenerEntry): boolean {
    try {
      Promise.resolve(pending).then(
        () => handle._releaseInJob(),
        (err: unknown) => {
          handle._fail(entry.name, err);
          handle._releaseInJob();
        },
      );
      return true;
    } catch (err) {
      handle._fail(entry.name, err);
      return false;
    }
  }
}

/**
 * One listener call with the observer told when it starts and ends. Returns what the listener
 * returned, or a native promise that settles like it (after the observer saw the end); throws what
 * it threw.
 */
export function callObserved(
  observer: BusObserver,
  handle: DispatchHandle,
  entry: ListenerEntry,
  event: unknown,
  meta: DeliveryMeta | undefined,
): unknown {
  const delivery: ObservedDelivery = { handle, key: entry.key, listener: entry.name, event, meta, startedAt: performance.now() };
  observer.deliveryStarted(delivery);
  let result: unknown;
  try {
    if (observer.runDelivery !== undefined) result = observer.runDelivery(delivery, entry, event, meta);
    else result = callWatchedEntry(entry, event, meta, handle.eventName);
  } catch (err) {
    observer.deliveryEnded(delivery, { error: err, failed: true, durationMs: performance.now() - delivery.startedAt });
    throw err;
  }
  let thenable = false;
  try {
    thenable = result !== undefined && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
  } catch (err) {
    // A throwing `then` getter: the caller reads it again and records the failure.
    observer.deliveryEnded(delivery, { error: err, failed: true, durationMs: performance.now() - delivery.startedAt });
    return result;
  }
  if (!thenable) {
    observer.deliveryEnded(delivery, { error: undefined, failed: false, durationMs: performance.now() - delivery.startedAt });
    return result;
  }
  return Promise.resolve(result).then(
    (value: unknown) => {
      observer.deliveryEnded(delivery, { error: undefined, failed: false, durationMs: performance.now() - delivery.startedAt });
      return value;
    },
    (err: unknown) => {
      observer.deliveryEnded(delivery, { error: err, failed: true, durationMs: performance.now() - delivery.startedAt });
      throw err;
    },
  );
}
