import { context, metrics, trace, type Attributes } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AggregationTemporality, DataPointType, MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { bootApp, type BootedApp } from './boot-app';
import { RedisServer } from './redis-server';

/** Collects on demand (a test reads the metrics when it wants them). */
class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

/** The real OTel SDK, registered globally: tracer provider + in-memory exporter, ALS context, meter provider + reader. */
export interface OtelHarness {
  readonly exporter: InMemorySpanExporter;
  spans(): ReadableSpan[];
  /** The metric named `name` after a collection. */
  metric(name: string): Promise<MetricData | undefined>;
  /** Sum of a counter's points whose attributes include `where`. */
  sum(name: string, where?: Attributes): Promise<number>;
  reset(): void;
  shutdown(): Promise<void>;
}

export function installOtel(): OtelHarness {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(meterProvider);
  const metric = async (name: string): Promise<MetricData | undefined> => {
    const { resourceMetrics } = await reader.collect();
    for (const scope of resourceMetrics.scopeMetrics) {
      const found = scope.metrics.find((m) => m.descriptor.name === name);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    metric,
    async sum(name, where = {}) {
      const data = await metric(name);
      if (data === undefined) return 0;
      let total = 0;
      for (const point of data.dataPoints as Array<{ attributes: Attributes; value: unknown }>) {
        if (!Object.entries(where).every(([k, v]) => point.attributes[k] === v)) continue;
        if (data.dataPointType === DataPointType.HISTOGRAM) total += (point.value as { count: number }).count;
        else total += point.value as number;
      }
      return total;
    },
    reset: () => exporter.reset(),
    async shutdown() {
      await provider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      context.disable();
    },
  };
}

/** The spans named `name`. */
export function spansNamed(spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((s) => s.name === name);
}

export function parentSpanId(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/**
 * Hooks for a spec file that traces real apps on a real redis-server: the SDK installed and one
 * server started once, the apps closed (and, with `resetSpans`, the finished spans dropped) after
 * each test. `otel` and `server` are read after `beforeAll` ran.
 */
export function useOtelRedisApps(options: { resetSpans: boolean }): {
  readonly otel: OtelHarness;
  readonly server: RedisServer;
  boot(...args: Parameters<typeof bootApp>): Promise<BootedApp>;
} {
  let otel: OtelHarness | undefined;
  let server: RedisServer | undefined;
  const apps: BootedApp[] = [];
  beforeAll(async () => {
    otel = installOtel();
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await otel?.shutdown();
    await server?.destroy();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    if (options.resetSpans) otel?.reset();
  });
  return {
    get otel() {
      return otel!;
    },
    get server() {
      return server!;
    },
    async boot(...args) {
      const app = await bootApp(...args);
      apps.push(app);
      return app;
    },
  };
}
