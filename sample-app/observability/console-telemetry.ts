import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ConsoleSpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

/**
 * OTEL_CONSOLE=1: the OpenTelemetry SDK with every finished span printed to the console. Registered
 * before the Nest app is created, so the bus (telemetry: { tracing: true }) finds it.
 */
export function startConsoleTelemetry(): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })] }));
}
