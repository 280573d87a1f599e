/**
 * What the event board reads of the bus beyond its public API, in one file: the listener list and
 * the driver (through the module's internal `BusRuntime`), the bus's observer hook (attached only
 * while a page is open, so an unwatched board costs a dispatch nothing), and the driver's
 * consumer-group capability on redis-streams.
 */
import type { BusObserver } from '../core/bus-observer';
import type { BusRuntime } from '../core/bus-runtime';
import type { ConsumerGroupInspector } from '../interfaces/event-bus-driver.interface';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import { isPattern } from '../routing/event-pattern';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import type { EventBoardRecorder, RecordedDispatch } from './event-board.recorder';

/** A listener as the board lists it. */
export interface BusListenerInfo {
  readonly event: string;
  readonly name: string;
  readonly async: boolean;
  readonly options: ListenerOptions;
}

/** Recording attached to a bus; `refresh()` is kept for callers that cover late listeners (nothing to do). */
export interface BusObservation {
  refresh(): void;
  detach(): void;
}

export function listBusListeners(runtime: BusRuntime): BusListenerInfo[] {
  return runtime.index.entries().map((entry) => ({ event: entry.key, name: entry.name, async: entry.async, options: entry.options }));
}

/** `memory`, `redis`, `redis-streams`, or the custom driver's class name; `undefined` before start. */
export function driverName(runtime: BusRuntime): string | undefined {
  const driver = runtime.getDriver();
  if (driver === undefined) return undefined;
  const name = driver.constructor?.name ?? 'custom';
  return ({ MemoryDriver: 'memory', RedisDriver: 'redis', RedisStreamsDriver: 'redis-streams' } as Record<string, string>)[name] ?? name;
}

/** Event names (no patterns) this app's listeners are registered under. */
export function listenedEventNames(runtime: BusRuntime): string[] {
  return [...new Set(listBusListeners(runtime).map((l) => l.event))].filter((key) => !isPattern(key)).sort();
}

/** The driver's consumer groups, when its listeners read through them (redis-streams). */
export function consumerGroupsOf(runtime: BusRuntime): ConsumerGroupInspector | undefined {
  return runtime.getDriver()?.consumerGroups;
}

/** Starts feeding `recorder` from the bus's observer hook; `detach()` removes it. */
export function attachBoardObserver(runtime: BusRuntime, recorder: EventBoardRecorder): BusObservation {
  // The listed dispatches still in flight, for what arrives about them later (trace, remote reports).
  const listed = new WeakMap<DispatchHandle, RecordedDispatch>();
  const observer: BusObserver = {
    dispatched: (handle, event) => {
      if (!recorder.listing) return;
      const record = recorder.dispatched(handle.eventName, handle.id, event, runtime.traceIdOf(handle));
      if (record === undefined) return;
      listed.set(handle, record);
      // Most dispatches (sync listeners that return) are settled here: no promise per event for them.
      if (handle.settled) recorder.dispatchSettled(record, handle.errors.length);
      else void handle.done.then((result) => recorder.dispatchSettled(record, result.errors.length));
    },
    published: (handle) => {
      // Sent with no span active: its PRODUCER span started a trace of its own.
      const record = listed.get(handle);
      if (record === undefined || record.traceId !== undefined) return;
      const traceId = runtime.traceIdOf(handle);
      if (traceId !== undefined) recorder.traced(record, traceId);
    },
    remoteOutcomes: (handle, reporter, outcomes) => {
      const record = listed.get(handle);
      if (record !== undefined) recorder.remoteReported(record, reporter, outcomes);
    },
    received: () => undefined,
    deliveryStarted: () => undefined,
    deliveryEnded: (delivery, outcome) => {
      const startedAt = delivery.startedAt;
      recorder.deliveryEnded(delivery.key, delivery.listener, startedAt, outcome.failed, outcome.error);
    },
    error: (error) => recorder.error(error),
  };
  const detach = runtime.addObserver(observer);
  return { refresh: () => undefined, detach };
}
