import { getDomainEventMetadata } from '../decorators/domain-event.decorator';
import type { BusObserver, ObservedDelivery } from '../core/bus-observer';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { DispatchTimeoutError } from '../errors/dispatch-timeout.error';
import type { EventClass } from '../interfaces/event-class.interface';
import { compilePattern, isPattern } from '../routing/event-pattern';

/** What `recorder.waitFor()` takes. */
export interface WaitForOptions<T> {
  /** Only an event for which this returns true counts. */
  where?: (event: T) => boolean;
  /** Rejects with `DispatchTimeoutError` after this long. Default 5 000 ms. */
  timeoutMs?: number;
}

/** A class (its events, by the class's event name) or an event name or pattern (`'user.*'`). */
export type RecorderTarget<T> = EventClass<T> | string;

interface Recorded {
  readonly name: string;
  readonly event: unknown;
}

interface Waiter {
  readonly matches: (entry: Recorded) => boolean;
  resolve(event: unknown): void;
  reject(error: unknown): void;
}

const DEFAULT_WAIT_FOR_MS = 5_000;

/**
 * What `bus.record()` returns: from then on, every event dispatched on this bus and every event
 * delivered to a listener here, for assertions in tests. It watches the bus through the bus's
 * internal observer hook, so it costs nothing before `record()` and after `stop()`.
 */
export class EventRecorder {
  private readonly dispatchedEvents: Recorded[] = [];
  private readonly receivedEvents: Recorded[] = [];
  /** Handles whose event is already in `received` (an event reaching three listeners is one entry). */
  private readonly receivedHandles = new WeakSet<DispatchHandle>();
  /** Durable deliveries come with a handle per listener but the sender's id: one entry per event. */
  private readonly receivedIds = new Set<string>();
  private waiters: Waiter[] = [];
  private stopped = false;

  /** @internal Made by `bus.record()`; `detach` removes the observer. */
  constructor(private readonly detach: () => void) {}

  /** @internal The observer `bus.record()` attaches. */
  get observer(): BusObserver {
    return {
      dispatched: (handle, event) => this.add(this.dispatchedEvents, handle.eventName, event),
      deliveryStarted: (delivery) => this.delivered(delivery),
      published: () => undefined,
      received: () => undefined,
      deliveryEnded: () => undefined,
      error: () => undefined,
    };
  }

  /**
   * Resolves with the first event of `target` dispatched here or delivered to a listener here that
   * passes `where` — one recorded earlier counts. To wait until listeners have handled it, await
   * the dispatch handle or `bus.wait()`.
   */
  waitFor<T>(target: RecorderTarget<T>, options: WaitForOptions<T> = {}): Promise<T> {
    const matchesTarget = matcherOf(target);
    const where = options.where;
    const matches = (entry: Recorded): boolean => matchesTarget(entry) && (where === undefined || where(entry.event as T));
    const earlier = [...this.dispatchedEvents, ...this.receivedEvents].find(matches);
    if (earlier !== undefined) return Promise.resolve(earlier.event as T);
    if (this.stopped) return Promise.reject(new Error('recorder.waitFor(): the recorder is stopped'));
    const timeoutMs = options.timeoutMs ?? DEFAULT_WAIT_FOR_MS;
    return new Promise<T>((resolve, reject) => {
      const waiter: Waiter = {
        matches,
        resolve: (event) => {
          clearTimeout(timer);
          resolve(event as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new DispatchTimeoutError(timeoutMs, `recorder.waitFor(${describe(target)})`));
      }, timeoutMs);
      timer.unref();
      this.waiters.push(waiter);
    });
  }

  /** Events of `target` dispatched on this bus, in order. */
  dispatched<T>(target: RecorderTarget<T>): T[] {
    const matches = matcherOf(target);
    return this.dispatchedEvents.filter(matches).map((entry) => entry.event as T);
  }

  /** Events of `target` delivered to listeners here (from this process or another), once each, in order. */
  received<T>(target: RecorderTarget<T>): T[] {
    const matches = matcherOf(target);
    return this.receivedEvents.filter(matches).map((entry) => entry.event as T);
  }

  /** Stops recording (what was recorded stays readable); waiting `waitFor()` calls reject. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.detach();
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(new Error('recorder.waitFor(): the recorder was stopped before a matching event came'));
  }

  private delivered(delivery: ObservedDelivery): void {
    const handle = delivery.handle;
    if (this.receivedHandles.has(handle)) return;
    this.receivedHandles.add(handle);
    if (delivery.meta !== undefined) {
      const id = handle.id;
      if (this.receivedIds.has(id)) return;
      this.receivedIds.add(id);
    }
    this.add(this.receivedEvents, handle.eventName, delivery.event);
  }

  private add(list: Recorded[], name: string, event: unknown): void {
    const entry: Recorded = { name, event };
    list.push(entry);
    if (this.waiters.length === 0) return;
    for (const waiter of [...this.waiters]) {
      if (!safeMatch(waiter, entry)) continue;
      this.waiters = this.waiters.filter((w) => w !== waiter);
      waiter.resolve(event);
    }
  }
}

/** A `where` that throws fails that waitFor(), not the dispatch that recorded the event. */
function safeMatch(waiter: Waiter, entry: Recorded): boolean {
  try {
    return waiter.matches(entry);
  } catch (err) {
    waiter.reject(err);
    return false;
  }
}

function matcherOf(target: RecorderTarget<unknown>): (entry: Recorded) => boolean {
  if (typeof target === 'function') {
    const name = getDomainEventMetadata(target)?.name;
    if (name === undefined) {
      throw new TypeError(`recorder: ${target.name || 'this class'} is not a @DomainEvent class (pass the class or an event name)`);
    }
    return (entry) => entry.name === name;
  }
  if (typeof target !== 'string' || target.length === 0) {
    throw new TypeError(`recorder: pass a @DomainEvent class or an event name or pattern (got ${String(target)})`);
  }
  if (!isPattern(target)) return (entry) => entry.name === target;
  const pattern = compilePattern(target);
  return (entry) => pattern.test(entry.name);
}

function describe(target: RecorderTarget<unknown>): string {
  return typeof target === 'function' ? target.name : `'${target}'`;
}
