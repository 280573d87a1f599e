import type { DispatchHandle } from '../dispatch/dispatch-handle';
import type { EventError } from '../errors/event.error';
import type { DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../interfaces/event-envelope.interface';
import type { ListenerEntry } from '../routing/listener-entry';
import type { ListenerOutcome } from '../tracking/listener-outcome';

/** One call of one listener, as an observer sees it start and end. */
export interface ObservedDelivery {
  /** The dispatch it belongs to; for a durable delivery, a handle of its own with the sender's id. */
  readonly handle: DispatchHandle;
  /** The key the listener is registered under (an event name or a pattern). */
  readonly key: string;
  /** `EventError.listener` of the listener: `Class.method` or the programmatic name. */
  readonly listener: string;
  readonly event: unknown;
  /** Set on durable deliveries (stream entry id and attempt). */
  readonly meta: DeliveryMeta | undefined;
  /** `performance.now()` when the call started. */
  readonly startedAt: number;
}

/** How one delivery ended. */
export interface DeliveryOutcome {
  /** The listener's failure (thrown or rejected); undefined when it succeeded. */
  readonly error: unknown;
  readonly failed: boolean;
  readonly durationMs: number;
}

/** What a tracing observer opens for one event leaving the process (see `BusObserver.sending`). */
export interface OutgoingScope {
  /** Written into the envelope's `headers` (W3C trace context). */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** Called once: with no argument when the driver sent it, with the error when it was not sent. */
  sent(error?: unknown): void;
}

/**
 * The bus's hook points, for what watches it from inside the package (tracking across processes,
 * OpenTelemetry, a test recorder, an event board). Attach one with `BusRuntime.addObserver()`.
 *
 * The cost when nothing observes is one field read and an `undefined` check per dispatch and per
 * listener call: the hot path stays the one the bench measures. Observers are called inline, so
 * they must be quick and must not throw (a throw is caught and logged, never seen by a listener);
 * they must not dispatch from `deliveryStarted`/`deliveryEnded` on the same event (it would loop).
 *
 * - `dispatched`: `dispatch()` accepted an event; called before any listener runs (for one dispatched
 *   before the bus was ready: when it runs, inside the async context of its `dispatch()` call).
 * - `published`: an event left for the driver, encoded (redis drivers only), before the driver sent it.
 * - `received`: a driver delivered an event from elsewhere to this bus (broadcast key or durable listener).
 * - `deliveryStarted` / `deliveryEnded`: one listener call, sync, async or durable, and how it ended
 *   (for a call that returns a promise, when that promise settles).
 * - `error`: every `EventError` the bus records (handles and `errors$`).
 * - `deadLettered` (optional): a durable driver wrote an entry to its dead-letter stream (a write
 *   that failed is not one: the entry stays pending and is dead-lettered again when reclaimed).
 * - `remoteOutcomes` (optional): another bus (`reporter`, its bus id) reported the outcomes of its
 *   listener calls for a tracked dispatch (`trackRemote`) of this bus.
 * - `traceIdOf` (optional): the trace a dispatch belongs to, for observers that show it (tracing has it).
 * - `sending` (optional): opens a scope for an event about to leave the process, before it is encoded.
 * - `runDelivery` (optional): makes one listener call (`entry.call(event, meta)`) inside a context of
 *   the observer's, so what the listener starts (spans) nests under it.
 * Only the first observer that has `sending` / `runDelivery` is used for them (tracing is one).
 */
export interface BusObserver {
  dispatched(handle: DispatchHandle, event: unknown): void;
  published(handle: DispatchHandle, outgoing: OutgoingEvent): void;
  /** `headers`: the envelope's headers (trace context), when it carried any. */
  received(handle: DispatchHandle, event: unknown, meta: DeliveryMeta | undefined, headers?: Readonly<Record<string, string>>): void;
  deliveryStarted(delivery: ObservedDelivery): void;
  deliveryEnded(delivery: ObservedDelivery, outcome: DeliveryOutcome): void;
  error(error: EventError): void;
  deadLettered?(eventName: string, listener: string): void;
  remoteOutcomes?(handle: DispatchHandle, reporter: string, outcomes: readonly ListenerOutcome[]): void;
  traceIdOf?(handle: DispatchHandle): string | undefined;
  sending?(handle: DispatchHandle): OutgoingScope | undefined;
  runDelivery?(delivery: ObservedDelivery, entry: ListenerEntry, event: unknown, meta: DeliveryMeta | undefined): unknown;
}

/** Several observers behind one: the bus reads one field, however many watch it. */
export class ObserverSet implements BusObserver {
  readonly sending?: (handle: DispatchHandle) => OutgoingScope | undefined;
  readonly runDelivery?: (delivery: ObservedDelivery, entry: ListenerEntry, event: unknown, meta: DeliveryMeta | undefined) => unknown;

  constructor(
    private readonly list: readonly BusObserver[],
    private readonly onThrow: (err: unknown) => void,
  ) {
    // Not guarded: a tracer's scope is part of the call (it runs the listener), and it does not throw.
    const sender = list.find((o) => o.sending !== undefined);
    if (sender !== undefined) this.sending = sender.sending!.bind(sender);
    const runner = list.find((o) => o.runDelivery !== undefined);
    if (runner !== undefined) this.runDelivery = runner.runDelivery!.bind(runner);
  }

  dispatched(handle: DispatchHandle, event: unknown): void {
    for (const o of this.list) this.guard(() => o.dispatched(handle, event));
  }
  published(handle: DispatchHandle, outgoing: OutgoingEvent): void {
    for (const o of this.list) this.guard(() => o.published(handle, outgoing));
  }
  received(handle: DispatchHandle, event: unknown, meta: DeliveryMeta | undefined, headers?: Readonly<Record<string, string>>): void {
    for (const o of this.list) this.guard(() => o.received(handle, event, meta, headers));
  }
  deliveryStarted(delivery: ObservedDelivery): void {
    for (const o of this.list) this.guard(() => o.deliveryStarted(delivery));
  }
  deliveryEnded(delivery: ObservedDelivery, outcome: DeliveryOutcome): void {
    for (const o of this.list) this.guard(() => o.deliveryEnded(delivery, outcome));
  }
  error(error: EventError): void {
    for (const o of this.list) this.guard(() => o.error(error));
  }
  deadLettered(eventName: string, listener: string): void {
    for (const o of this.list) if (o.deadLettered !== undefined) this.guard(() => o.deadLettered!(eventName, listener));
  }
  remoteOutcomes(handle: DispatchHandle, reporter: string, outcomes: readonly ListenerOutcome[]): void {
    for (const o of this.list) if (o.remoteOutcomes !== undefined) this.guard(() => o.remoteOutcomes!(handle, reporter, outcomes));
  }
  traceIdOf(handle: DispatchHandle): string | undefined {
    for (const o of this.list) {
      const id = o.traceIdOf?.(handle);
      if (id !== undefined) return id;
    }
    return undefined;
  }

  private guard(call: () => void): void {
    try {
      call();
    } catch (err) {
      this.onThrow(err);
    }
  }
}
