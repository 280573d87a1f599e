import type { Subscription } from 'rxjs';
import type { BusObserver } from '../core/bus-observer';
import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { RetryNotice } from '../interfaces/event-bus-stats.interface';
import type { ResolvedEventBusOptions } from '../options/resolved-options.interface';
import { isPattern } from '../routing/event-pattern';
import { GroupStatsCache } from './group-stats-cache';
import { messagingSystem } from './messaging-attributes';
import { MetricsObserver } from './metrics-observer';
import { loadOpenTelemetry, type OtelApiModule } from './otel-peer';
import { TracingObserver } from './tracing-observer';

/** What the instrumentation needs of the bus. */
export interface InstrumentedBus {
  addObserver(observer: BusObserver): () => void;
  readonly retries$: { subscribe(next: (notice: RetryNotice) => void): Subscription };
  /** The keys listeners are registered under (the streams the gauges read). */
  listenerKeys(): string[];
}

const SCOPE = 'nestjs-event-bus';

/**
 * OpenTelemetry for one bus: loads the optional peer (only when `telemetry.tracing` or
 * `telemetry.metrics` is on) before the driver connects, then attaches the observers.
 */
export class BusInstrumentation {
  private readonly stops: Array<() => void> = [];

  private constructor(private readonly api: OtelApiModule) {}

  /** Undefined when telemetry is off: nothing of OpenTelemetry is loaded. */
  static async load(options: ResolvedEventBusOptions): Promise<BusInstrumentation | undefined> {
    if (!options.telemetry.tracing && !options.telemetry.metrics) return undefined;
    const option = options.telemetry.tracing ? 'telemetry.tracing' : 'telemetry.metrics';
    return new BusInstrumentation(await loadOpenTelemetry(option));
  }

  attach(bus: InstrumentedBus, driver: EventBusDriver, options: ResolvedEventBusOptions): void {
    const driverName = typeof options.driver === 'string' ? options.driver : 'custom';
    const system = messagingSystem(driverName);
    const serviceGroup = driver.consumerGroups?.serviceGroup;
    const durable = driver.delivery === 'durable';
    // The streams driver's naming (`streams.group:Listener`), spelled here so a memory app loads no driver file.
    const group = (listener: string): string | undefined =>
      durable && serviceGroup !== undefined ? `${serviceGroup}:${listener}` : undefined;
    if (options.telemetry.tracing) {
      this.stops.push(bus.addObserver(new TracingObserver(this.api, { system, groupOf: group })));
    }
    if (options.telemetry.metrics) {
      const metrics = new MetricsObserver(this.api.metrics.getMeter(SCOPE), { system, groupOf: group });
      const inspector = driver.consumerGroups;
      if (inspector !== undefined) {
        const names = (): string[] => [...new Set(bus.listenerKeys().filter((key) => !isPattern(key)))];
        metrics.observeGroups(new GroupStatsCache(inspector, names, options.telemetry.groupStatsCacheMs));
      }
      this.stops.push(bus.addObserver(metrics));
      const retries = bus.retries$.subscribe((notice) => metrics.retried(notice));
      this.stops.push(
        () => retries.unsubscribe(),
        () => metrics.stop(),
      );
    }
  }

  detach(): void {
    for (const stop of this.stops.splice(0)) stop();
  }
}
