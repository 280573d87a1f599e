import { DispatchHandle, type HandleOwner } from '../dispatch/dispatch-handle';
import { EventBusClosedError } from '../errors/event-bus-closed.error';
import { HandleTracking } from '../tracking/handle-tracking';
import { DELIVERED, type DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import type { IncomingEvent } from '../interfaces/event-envelope.interface';
import type { ListenerEntry } from '../routing/listener-entry';
import type { ListenerIndex } from '../routing/listener-index';
import type { BusLifecycle } from './bus-lifecycle';
import type { BusObserver } from './bus-observer';
import type { InflightTracker } from './inflight-tracker';
import { callObserved, type LocalDispatcher } from './local-dispatcher';

/** Events a driver received from elsewhere, into this bus's listeners. */
export class InboundDelivery {
  /** Set by the runtime when something observes the bus. */
  observer: BusObserver | undefined = undefined;

  constructor(
    private readonly busId: string,
    private readonly owner: HandleOwner,
    private readonly lifecycle: BusLifecycle,
    private readonly index: ListenerIndex,
    private readonly local: LocalDispatcher,
    private readonly inflight: InflightTracker,
  ) {}

  /** A broadcast event for the listeners under one subscription key; resolves when they settled. */
  broadcast(key: string, incoming: IncomingEvent): Promise<void> {
    // Our own echo is dropped; a closing bus takes no new dispatches, received ones included (with
    // steady traffic the drain would never end).
    if (incoming.origin === this.busId || this.lifecycle.closed) {
      // A tracked copy this bus does not run: no report (the publisher's timeout says it).
      if (incoming.sink !== undefined) incoming.sink.dropped = true;
      return DELIVERED;
    }
    const handle = new DispatchHandle(incoming.name, this.owner, incoming.handleId || undefined);
    // A tracked copy: the outcomes go to the report the driver sends back.
    if (incoming.sink !== undefined) handle._track = new HandleTracking(incoming.sink.outcomes);
    if (this.observer !== undefined) this.observer.received(handle, incoming.event, undefined, incoming.headers);
    this.local.run(handle, this.index.routeKey(key, incoming.name), incoming.event, undefined);
    if (handle.settled) return DELIVERED;
    handle._tracked = true;
    this.inflight.begin();
    return handle.done.then(() => undefined);
  }

  /**
   * A durable delivery to one listener: resolves when it succeeded, rejects with its failure. A
   * listener that returns without a promise settles it at once (no async function, no await: a
   * stream consumer acknowledges its batch a few microtasks sooner, with three promises less per entry).
   */
  durable(entry: ListenerEntry, incoming: IncomingEvent, meta: DeliveryMeta | undefined): Promise<void> {
    if (!entry.active) return Promise.reject(new EventBusClosedError(`listener ${entry.name} is no longer registered`));
    // A closing bus starts no new delivery; the driver leaves the entry pending for another replica.
    if (this.lifecycle.closed) return Promise.reject(new EventBusClosedError());
    if (this.observer !== undefined) return this.durableObserved(this.observer, entry, incoming, meta);
    this.inflight.begin();
    let result: unknown;
    let thenable: boolean;
    try {
      result = entry.call(incoming.event, meta);
      // Inside the try: reading `then` runs a getter on a foreign object, which may throw.
      thenable = result !== undefined && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
    } catch (err) {
      this.inflight.end();
      return Promise.reject(err);
    }
    if (!thenable) {
      this.inflight.end();
      return DELIVERED;
    }
    return Promise.resolve(result as PromiseLike<unknown>).then(this.endDurable, this.failDurable);
  }

  private readonly endDurable = (): void => this.inflight.end();
  private readonly failDurable = (err: unknown): never => {
    this.inflight.end();
    throw err;
  };

  /** The same with an observer: a handle for it to correlate by (the driver, not a handle, tracks the delivery). */
  private async durableObserved(
    observer: BusObserver,
    entry: ListenerEntry,
    incoming: IncomingEvent,
    meta: DeliveryMeta | undefined,
  ): Promise<void> {
    this.inflight.begin();
    try {
      const handle = new DispatchHandle(incoming.name, this.owner, incoming.handleId || undefined);
      observer.received(handle, incoming.event, meta, incoming.headers);
      try {
        await callObserved(observer, handle, entry, incoming.event, meta);
      } finally {
        handle._release();
      }
    } finally {
      this.inflight.end();
    }
  }
}
