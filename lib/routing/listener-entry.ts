import type { DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import type { ListenerOptions } from '../interfaces/listener-options.interface';

/**
 * Calls a listener once; returns its result (a value or a promise). `eventName`: the event's name,
 * passed by the bus when it watches the call (and by durable deliveries), for the retry notices of
 * the delivery policies; the listener itself is only given `event` and `meta`.
 */
export type ListenerCall = (event: unknown, meta?: DeliveryMeta, eventName?: string) => unknown;

/**
 * Calls `entry` the way a watched call does (recorder, tracking, tracing): its policies get the
 * event's name for their retry notices; a plain listener gets `(event, meta)` only.
 */
export function callWatchedEntry(entry: ListenerEntry, event: unknown, meta: DeliveryMeta | undefined, eventName: string): unknown {
  return entry.plain ? entry.call(event, meta) : entry.call(event, meta, eventName);
}

/** One registered listener under one key (an event name or a pattern). */
export interface ListenerEntry {
  /** Event name or pattern it was registered under. */
  readonly key: string;
  /** `Class.method`, or the programmatic listener's name: what `EventError.listener` shows. */
  readonly name: string;
  readonly async: boolean;
  readonly options: ListenerOptions;
  /** Registration order across every key. */
  readonly seq: number;
  /** The listener behind its delivery policies. */
  call: ListenerCall;
  /** `call` is the listener's own (no policies): call it with `(event, meta)` only. */
  readonly plain: boolean;
  /** Cleared when it is unregistered: a dispatch already in flight skips it from then on. */
  active: boolean;
  /** Releases the delivery policies (queued events fail with `EventBusClosedError`). */
  close(): Promise<void>;
}
