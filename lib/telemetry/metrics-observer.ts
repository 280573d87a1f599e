import type { Attributes, BatchObservableResult, Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';
import type { DeliveryOutcome, BusObserver, ObservedDelivery } from '../core/bus-observer';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { EventError, PUBLISHER, SUBSCRIBER } from '../errors/event.error';
import { ListenerTimeoutError } from '../errors/listener-timeout.error';
import type { DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../interfaces/event-envelope.interface';
import type { RetryNotice } from '../interfaces/event-bus-stats.interface';
import type { GroupStatsCache } from './group-stats-cache';
import {
  ATTR_CONSUMER_GROUP,
  ATTR_DESTINATION,
  ATTR_ERROR_TYPE,
  ATTR_LISTENER,
  ATTR_OPERATION_NAME,
  ATTR_SYSTEM,
  errorType,
} from './messaging-attributes';

export interface MetricsSettings {
  readonly system: string;
  readonly groupOf: (listener: string) => string | undefined;
}

/** Metric names (OpenTelemetry's messaging conventions, then the bus's own). */
export const METRIC = {
  sent: 'messaging.client.sent.messages',
  consumed: 'messaging.client.consumed.messages',
  duration: 'messaging.process.duration',
  listenerErrors: 'event_bus.listener.errors',
  retries: 'event_bus.listener.retries',
  timeouts: 'event_bus.listener.timeouts',
  deadLetters: 'event_bus.dead_letters',
  groupLag: 'event_bus.consumer_group.lag',
  groupPending: 'event_bus.consumer_group.pending',
  groupDeadLetters: 'event_bus.consumer_group.dead_letters',
} as const;

/**
 * The bus's metrics, through its observer hook. Attributes are bounded: the event name, the
 * listener and (redis-streams) its group — never payload values or handle ids.
 */
export class MetricsObserver implements BusObserver {
  private readonly sent: Counter;
  private readonly consumed: Counter;
  private readonly duration: Histogram;
  private readonly listenerErrors: Counter;
  private readonly retries: Counter;
  private readonly timeouts: Counter;
  private readonly deadLetters: Counter;
  /** Handles of events received from elsewhere (their listener calls are consumed messages). */
  private readonly remote = new WeakSet<DispatchHandle>();
  private gauges: { readonly list: ObservableGauge[]; readonly callback: (result: BatchObservableResult) => Promise<void> } | undefined;

  constructor(
    private readonly meter: Meter,
    private readonly settings: MetricsSettings,
  ) {
    this.sent = meter.createCounter(METRIC.sent, { description: 'Events the bus handed to its driver to send', unit: '{message}' });
    this.consumed = meter.createCounter(METRIC.consumed, {
      description: 'Listener calls of events received from another process (one per attempt on redis-streams)',
      unit: '{message}',
    });
    this.duration = meter.createHistogram(METRIC.duration, {
      description: 'Duration of one listener call',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] },
    });
    this.listenerErrors = meter.createCounter(METRIC.listenerErrors, {
      description: 'Listener failures the bus recorded',
      unit: '{error}',
    });
    this.retries = meter.createCounter(METRIC.retries, { description: 'Listener calls retried', unit: '{retry}' });
    this.timeouts = meter.createCounter(METRIC.timeouts, { description: 'Listener calls that exceeded timeoutMs', unit: '{timeout}' });
    this.deadLetters = meter.createCounter(METRIC.deadLetters, { description: 'Events moved to a dead-letter stream', unit: '{message}' });
  }

  /** Observable gauges of each consumer group's lag, pending entries and dead letters, read through `stats`. */
  observeGroups(stats: GroupStatsCache): void {
    const lag = this.meter.createObservableGauge(METRIC.groupLag, {
      description: 'Entries not yet delivered to the group',
      unit: '{message}',
    });
    const pending = this.meter.createObservableGauge(METRIC.groupPending, {
      description: 'Entries delivered to the group and not acknowledged',
      unit: '{message}',
    });
    const dead = this.meter.createObservableGauge(METRIC.groupDeadLetters, {
      description: "Entries in the event's dead-letter stream",
      unit: '{message}',
    });
    const callback = async (result: BatchObservableResult): Promise<void> => {
      for (const g of await stats.read()) {
        const attributes: Attributes = {
          [ATTR_SYSTEM]: this.settings.system,
          [ATTR_DESTINATION]: g.eventName,
          [ATTR_CONSUMER_GROUP]: g.group,
        };
        if (g.lag !== null) result.observe(lag, g.lag, attributes);
        result.observe(pending, g.pending, attributes);
        result.observe(dead, g.deadLetters, attributes);
      }
    };
    this.meter.addBatchObservableCallback(callback, [lag, pending, dead]);
    this.gauges = { list: [lag, pending, dead], callback };
  }

  retried(notice: RetryNotice): void {
    const attributes: Attributes = { [ATTR_LISTENER]: notice.listener };
    if (notice.eventName !== undefined) attributes[ATTR_DESTINATION] = notice.eventName;
    this.retries.add(1, attributes);
  }

  dispatched(): void {}

  published(handle: DispatchHandle, outgoing: OutgoingEvent): void {
    this.sent.add(1, { [ATTR_SYSTEM]: this.settings.system, [ATTR_DESTINATION]: outgoing.name, [ATTR_OPERATION_NAME]: 'send' });
  }

  received(handle: DispatchHandle): void {
    this.remote.add(handle);
  }

  deliveryStarted(delivery: ObservedDelivery): void {
    if (!this.remote.has(delivery.handle)) return;
    this.consumed.add(1, this.listenerAttributes(delivery.handle.eventName, delivery.listener, delivery.meta));
  }

  deliveryEnded(delivery: ObservedDelivery, outcome: DeliveryOutcome): void {
    const attributes = this.listenerAttributes(delivery.handle.eventName, delivery.listener, delivery.meta);
    if (outcome.failed) {
      attributes[ATTR_ERROR_TYPE] = errorType(outcome.error);
      if (outcome.error instanceof ListenerTimeoutError)
        this.timeouts.add(1, this.listenerAttributes(delivery.handle.eventName, delivery.listener, delivery.meta));
    }
    this.duration.record(outcome.durationMs / 1000, attributes);
  }

  error(error: EventError): void {
    if (error.listener === PUBLISHER) return;
    if (error.listener === SUBSCRIBER) return;
    this.listenerErrors.add(1, { [ATTR_DESTINATION]: error.eventName, [ATTR_LISTENER]: error.listener });
  }

  /** Counted when the dead letter was written, not when the failure was: a failed write is tried again later. */
  deadLettered(eventName: string, listener: string): void {
    this.deadLetters.add(1, { [ATTR_DESTINATION]: eventName, [ATTR_LISTENER]: listener });
  }

  /** Stops the gauges' reads (the bus closed). */
  stop(): void {
    if (this.gauges !== undefined) this.meter.removeBatchObservableCallback(this.gauges.callback, this.gauges.list);
    this.gauges = undefined;
  }

  private listenerAttributes(eventName: string, listener: string, meta: DeliveryMeta | undefined): Attributes {
    const attributes: Attributes = {
      [ATTR_SYSTEM]: this.settings.system,
      [ATTR_DESTINATION]: eventName,
      [ATTR_OPERATION_NAME]: 'process',
      [ATTR_LISTENER]: listener,
    };
    if (meta !== undefined) {
      const group = this.settings.groupOf(listener);
      if (group !== undefined) attributes[ATTR_CONSUMER_GROUP] = group;
    }
    return attributes;
  }
}
