import { EventError, SUBSCRIBER } from '../errors/event.error';
import type { DeliverFn, DriverDelivery, EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { ListenerEntry } from '../routing/listener-entry';
import type { ListenerIndex } from '../routing/listener-index';
import type { InboundDelivery } from './inbound-delivery';

/** What a delivery mode means for the rest of the bus, decided here once per driver. */
export interface DeliveryTraits {
  /** `dispatch()` hands events to the driver (they leave the process). */
  readonly publishes: boolean;
  /** `dispatch()` runs this process's listeners itself (for `durable`, the driver delivers to them). */
  readonly runsListenersOnDispatch: boolean;
  /** Delivery policies retry in process (durable drivers redeliver instead). */
  readonly retriesInProcess: boolean;
}

const TRAITS: Record<DriverDelivery, DeliveryTraits> = {
  local: { publishes: false, runsListenersOnDispatch: true, retriesInProcess: true },
  broadcast: { publishes: true, runsListenersOnDispatch: true, retriesInProcess: true },
  durable: { publishes: true, runsListenersOnDispatch: false, retriesInProcess: false },
};

/**
 * The one place where the three delivery modes differ:
 * - `local` (memory): the driver subscribes nothing;
 * - `broadcast` (redis pub/sub): one driver subscription per key, shared by its listeners, dropped
 *   when the last one goes;
 * - `durable` (redis streams): one driver subscription per listener (its own consumer group),
 *   stopped before that listener's policies close, so a running delivery finishes and is acknowledged.
 *
 * Driver calls are serialised in one chain, so a subscribe and an unsubscribe of one key never race;
 * a failed one is reported and the chain goes on. Until `app.init()`'s last check a failure also
 * fails start-up.
 */
export class SubscriptionManager {
  private driver: EventBusDriver | undefined;
  private mode: DriverDelivery = 'local';
  private ops: Promise<void> = Promise.resolve();
  private readonly subscribedKeys = new Set<string>();
  private startupFailure: unknown;
  /** app.init() is past its last subscription check: a failure from now on is reported, not fatal. */
  private startedUp = false;

  constructor(
    private readonly index: ListenerIndex,
    private readonly inbound: InboundDelivery,
    private readonly reportError: (error: EventError) => void,
  ) {}

  static traitsOf(delivery: DriverDelivery): DeliveryTraits {
    return TRAITS[delivery];
  }

  /** The driver is connected: what was registered before it subscribes now. */
  attach(driver: EventBusDriver, delivery: DriverDelivery): void {
    this.driver = driver;
    this.mode = delivery;
    if (delivery === 'durable') for (const entry of this.index.entries()) this.subscribe(entry);
    else if (delivery === 'broadcast') for (const key of this.index.keys()) this.queue(() => this.subscribeKey(key));
  }

  /** A listener joined the index. */
  added(entry: ListenerEntry): void {
    if (this.driver === undefined) return;
    if (this.mode === 'durable') this.subscribe(entry);
    else if (this.mode === 'broadcast' && !this.subscribedKeys.has(entry.key)) this.queue(() => this.subscribeKey(entry.key));
  }

  /** Whether `key` has a driver subscription (asked for or confirmed). */
  isSubscribed(key: string): boolean {
    return this.subscribedKeys.has(key);
  }

  /**
   * Listeners of `key` left the index: stop their deliveries, close their policies (what waits in
   * them fails with `EventBusClosedError`), and drop the key's subscription once nothing is left under it.
   */
  async removed(key: string, entries: readonly ListenerEntry[]): Promise<void> {
    if (this.mode === 'durable') {
      // Before a listener registered again (same name) subscribes, and before the policies close.
      for (const entry of entries)
        this.queue(async () => this.driver?.unsubscribe(entry.key, { name: entry.name, options: entry.options }));
      await this.ops;
    }
    await Promise.all(entries.map((entry) => entry.close()));
    this.queue(async () => {
      if (this.index.hasKey(key) || !this.subscribedKeys.has(key)) return;
      this.subscribedKeys.delete(key);
      await this.driver?.unsubscribe(key);
    });
    await this.ops;
  }

  /**
   * Resolves when every subscription asked for so far is confirmed; rejects with the first start-up
   * failure. `final` is app.init()'s last check, after which a failure is only reported.
   */
  async settled(final: boolean): Promise<unknown> {
    await this.ops;
    if (this.startupFailure !== undefined) return this.startupFailure;
    if (final) this.startedUp = true;
    return undefined;
  }

  /** Resolves once the driver calls queued so far are done (close waits for them). */
  idle(): Promise<void> {
    return this.ops;
  }

  private queue(op: () => Promise<void>): void {
    const next = this.ops.then(op);
    this.ops = next.catch((err: unknown) => {
      const error = err instanceof EventError ? err : new EventError('*', SUBSCRIBER, '', err);
      // Also one of a listener registered in code in another provider's onModuleInit (those subscribe after markReady()).
      if (!this.startedUp) this.startupFailure ??= error.cause;
      this.reportError(error);
    });
  }

  private subscribe(entry: ListenerEntry): void {
    this.queue(() => this.subscribeListener(entry));
  }

  private async subscribeKey(key: string): Promise<void> {
    if (this.subscribedKeys.has(key) || !this.index.hasKey(key)) return;
    this.subscribedKeys.add(key);
    const deliver: DeliverFn = (incoming) => this.inbound.broadcast(key, incoming);
    try {
      await this.driver!.subscribe(key, deliver);
    } catch (err) {
      this.subscribedKeys.delete(key);
      throw new EventError(key, SUBSCRIBER, '', err);
    }
  }

  private async subscribeListener(entry: ListenerEntry): Promise<void> {
    if (!entry.active) return;
    this.subscribedKeys.add(entry.key);
    const deliver: DeliverFn = (incoming, meta) => this.inbound.durable(entry, incoming, meta);
    try {
      await this.driver!.subscribe(entry.key, deliver, { name: entry.name, options: entry.options });
    } catch (err) {
      throw new EventError(entry.key, SUBSCRIBER, '', err);
    }
  }
}
