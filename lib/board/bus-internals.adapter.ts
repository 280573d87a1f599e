/**
 * BUS INTERNALS ADAPTER — the only file of the event board that reads the bus's internals.
 *
 * The bus has no public observer of dispatches and deliveries yet, so while a page is open this
 * file wraps `dispatch()` on the bus instance and each listener entry's `call`, and restores both
 * when the last page closes (nothing of it runs per dispatch otherwise). It also reads the listener
 * index, and the streams driver's command connection for `XINFO GROUPS` (dead letters go through
 * the public `DeadLetterService`). When the bus grows its own observer hooks, this file alone is
 * rewritten to register the recorder there; nothing else in `lib/board` changes.
 */
import type { Subscription } from 'rxjs';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { RedisStreamsDriver } from '../drivers/redis-streams.driver';
import type { EventBus } from '../event-bus';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import { isPattern } from '../routing/event-pattern';
import type { ListenerCall, ListenerEntry } from '../routing/listener-entry';
import type { EventBoardRecorder } from './event-board.recorder';

/** A listener as the board lists it. */
export interface BusListenerInfo {
  readonly event: string;
  readonly name: string;
  readonly async: boolean;
  readonly options: ListenerOptions;
}

/** Recording attached to a bus; `refresh()` covers listeners registered since. */
export interface BusObservation {
  refresh(): void;
  detach(): void;
}

/** What the board reads of the redis-streams driver beyond `DeadLetterService`. */
export interface StreamsAccess {
  streamKey(eventName: string): string;
  /** This app's groups start with it (`streams.group + ':'`). */
  readonly groupPrefix: string | undefined;
  /** `XINFO GROUPS` of a stream as field maps; `[]` when the stream does not exist. */
  groups(eventName: string): Promise<Array<Record<string, unknown>>>;
}

interface BusInternals {
  readonly index: { entries(): ListenerEntry[] };
}

function internals(bus: EventBus): BusInternals {
  return bus as unknown as BusInternals;
}

export function listBusListeners(bus: EventBus): BusListenerInfo[] {
  return internals(bus)
    .index.entries()
    .map((entry) => ({ event: entry.key, name: entry.name, async: entry.async, options: entry.options }));
}

/** `memory`, `redis`, `redis-streams`, or the custom driver's class name; `undefined` before start. */
export function driverName(bus: EventBus): string | undefined {
  const driver = bus.getDriver();
  if (driver === undefined) return undefined;
  const name = driver.constructor?.name ?? 'custom';
  return ({ MemoryDriver: 'memory', RedisDriver: 'redis', RedisStreamsDriver: 'redis-streams' } as Record<string, string>)[name] ?? name;
}

/** Event names (no patterns) this app's listeners are registered under. */
export function listenedEventNames(bus: EventBus): string[] {
  return [...new Set(listBusListeners(bus).map((l) => l.event))].filter((key) => !isPattern(key)).sort();
}

export function streamsAccess(bus: EventBus): StreamsAccess | undefined {
  const driver = bus.getDriver();
  if (!(driver instanceof RedisStreamsDriver)) return undefined;
  const commands = (
    driver as unknown as { commandClient(): Promise<{ call(command: string, ...args: string[]): Promise<unknown> }> }
  ).commandClient.bind(driver);
  const probe = driver.groupOf('x');
  return {
    streamKey: (eventName) => driver.streamKey(eventName),
    groupPrefix: probe === undefined ? undefined : probe.slice(0, -1),
    groups: async (eventName) => {
      let reply: unknown;
      try {
        reply = await (await commands()).call('XINFO', 'GROUPS', driver.streamKey(eventName));
      } catch (err) {
        // A stream nobody wrote to yet has no groups.
        if (/no such key/i.test((err as Error)?.message ?? '')) return [];
        throw err;
      }
      return Array.isArray(reply) ? reply.map(fieldMap) : [];
    },
  };
}

function fieldMap(flat: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}

/** Starts feeding `recorder` from `bus`; `detach()` puts everything back as it was. */
export function attachBoardObserver(bus: EventBus, recorder: EventBoardRecorder): BusObservation {
  const wrapped = new Map<ListenerEntry, ListenerCall>();
  const original = bus.dispatch as (eventOrName: unknown, payload?: unknown) => DispatchHandle;
  // Fixed arity (no rest/apply): this runs per dispatch while a page is open.
  const observed = (eventOrName: unknown, payloadArg?: unknown): DispatchHandle => {
    const handle = original.call(bus, eventOrName, payloadArg);
    if (!recorder.listing) return handle;
    const payload = typeof eventOrName === 'string' ? payloadArg : eventOrName;
    const record = recorder.dispatched(handle.eventName, handle.id, payload)!;
    // Most dispatches (sync listeners that return) are settled here: no promise per event for them.
    if (handle.settled) recorder.dispatchSettled(record, handle.errors.length);
    else void handle.done.then((result) => recorder.dispatchSettled(record, result.errors.length));
    return handle;
  };
  Object.defineProperty(bus, 'dispatch', { value: observed, configurable: true, writable: true, enumerable: false });
  const errors: Subscription = bus.errors$.subscribe((error) => recorder.error(error));

  const cover = (): void => {
    for (const entry of internals(bus).index.entries()) {
      if (wrapped.has(entry)) continue;
      const call = entry.call;
      wrapped.set(entry, call);
      entry.call = observeCall(call, entry.key, entry.name, recorder);
    }
  };
  cover();
  return {
    refresh: cover,
    detach: () => {
      errors.unsubscribe();
      // Put the class's own dispatch() back as the value, not by deleting the property: a delete would turn
      // the bus into a slow dictionary-mode object for the rest of the process.
      if (bus.dispatch === observed)
        Object.defineProperty(bus, 'dispatch', { value: original, configurable: true, writable: true, enumerable: false });
      for (const [entry, call] of wrapped) entry.call = call;
      wrapped.clear();
    },
  };
}

/** The same call, timed and counted; its result (value, throw or promise) is passed on unchanged. */
function observeCall(call: ListenerCall, eventKey: string, listener: string, recorder: EventBoardRecorder): ListenerCall {
  const tally = recorder.tallyFor(eventKey, listener);
  return (event, meta) => {
    const startedAt = recorder.deliveryStarted();
    let result: unknown;
    let thenable = false;
    try {
      result = call(event, meta);
      // Inside the try: a foreign object's `then` getter may throw (the bus reports that as the failure).
      thenable = result !== null && typeof result === 'object' && typeof (result as PromiseLike<unknown>).then === 'function';
    } catch (err) {
      recorder.deliveryEnded(eventKey, listener, startedAt, true, err, tally);
      throw err;
    }
    if (thenable) {
      // A side chain that handles the rejection itself; the bus still gets (and handles) the original promise.
      Promise.resolve(result).then(
        () => recorder.deliveryEnded(eventKey, listener, startedAt, false, undefined, tally),
        (err: unknown) => recorder.deliveryEnded(eventKey, listener, startedAt, true, err, tally),
      );
    } else {
      recorder.deliveryEnded(eventKey, listener, startedAt, false, undefined, tally);
    }
    return result;
  };
}
