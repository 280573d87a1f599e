import type { Attributes, Context, Span, Tracer } from '@opentelemetry/api';
import type { DeliveryOutcome, BusObserver, ObservedDelivery, OutgoingScope } from '../core/bus-observer';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import type { DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import { callWatchedEntry, type ListenerEntry } from '../routing/listener-entry';
import {
  ATTR_ATTEMPT,
  ATTR_CONSUMER_GROUP,
  ATTR_DESTINATION,
  ATTR_ERROR_TYPE,
  ATTR_HANDLE_ID,
  ATTR_LISTENER,
  ATTR_MESSAGE_ID,
  ATTR_OPERATION_NAME,
  ATTR_OPERATION_TYPE,
  ATTR_SYSTEM,
  errorType,
} from './messaging-attributes';
import type { OtelApiModule } from './otel-peer';
import { extractTraceContext, injectTraceContext } from './w3c-trace-context';

/** Where a handle's listener calls hang in the trace. */
interface Origin {
  readonly parent: Context;
  /** Received from another process: its listener calls are CONSUMER spans. */
  readonly remote: boolean;
}

export interface TracingSettings {
  /** `messaging.system`. */
  readonly system: string;
  /** The consumer group of a listener (redis-streams), for `messaging.consumer.group.name`. */
  readonly groupOf: (listener: string) => string | undefined;
}

/**
 * Spans of the bus, through the bus's observer hook: a PRODUCER span `send <event>` per event that
 * leaves the process (its W3C context goes into the envelope's headers), a CONSUMER span
 * `process <event>` per call of a listener on an event from elsewhere (child of the sender's span),
 * an INTERNAL span `process <event>` per in-process listener call (child of the context that
 * dispatched). Each listener runs inside its span's context, so the spans it starts nest under it.
 */
export class TracingObserver implements BusObserver {
  private readonly tracer: Tracer;
  /** The context each handle was dispatched or received in (async listeners run later, elsewhere). */
  private readonly origins = new WeakMap<DispatchHandle, Origin>();
  private readonly spans = new WeakMap<ObservedDelivery, Span>();
  /** The trace of each handle's PRODUCER span (a trace of its own when nothing was active at dispatch). */
  private readonly sentIn = new WeakMap<DispatchHandle, string>();

  constructor(
    private readonly api: OtelApiModule,
    private readonly settings: TracingSettings,
  ) {
    this.tracer = api.trace.getTracer('nestjs-event-bus');
  }

  dispatched(handle: DispatchHandle): void {
    this.origins.set(handle, { parent: this.api.context.active(), remote: false });
  }

  published(): void {}

  traceIdOf(handle: DispatchHandle): string | undefined {
    const parent = this.origins.get(handle)?.parent ?? this.api.context.active();
    const spanContext = this.api.trace.getSpanContext(parent);
    if (spanContext !== undefined && this.api.trace.isSpanContextValid(spanContext)) return spanContext.traceId;
    return this.sentIn.get(handle);
  }

  received(handle: DispatchHandle, _event: unknown, _meta: DeliveryMeta | undefined, headers?: Readonly<Record<string, string>>): void {
    // Never the context of the driver's socket callback: the sender's, or a trace of its own (goevent sends none).
    this.origins.set(handle, { parent: extractTraceContext(this.api, headers), remote: true });
  }

  deliveryStarted(): void {}

  deliveryEnded(delivery: ObservedDelivery, outcome: DeliveryOutcome): void {
    const span = this.spans.get(delivery);
    if (span === undefined) return;
    this.spans.delete(delivery);
    if (outcome.failed) this.fail(span, outcome.error);
    span.end();
  }

  error(): void {}

  sending(handle: DispatchHandle): OutgoingScope {
    const api = this.api;
    const parent = this.origins.get(handle)?.parent ?? api.context.active();
    const span = this.tracer.startSpan(
      `send ${handle.eventName}`,
      {
        kind: api.SpanKind.PRODUCER,
        attributes: {
          [ATTR_SYSTEM]: this.settings.system,
          [ATTR_DESTINATION]: handle.eventName,
          [ATTR_OPERATION_NAME]: 'send',
          [ATTR_OPERATION_TYPE]: 'send',
          [ATTR_MESSAGE_ID]: handle.id,
        },
      },
      parent,
    );
    // An unsampled span still passes its context on (the sampling decision travels); no valid context, no headers.
    const spanContext = span.spanContext();
    let headers: Record<string, string> | undefined;
    if (api.trace.isSpanContextValid(spanContext)) {
      this.sentIn.set(handle, spanContext.traceId);
      headers = {};
      injectTraceContext(spanContext, headers);
    }
    return new SendScope(span, headers, this);
  }

  runDelivery(delivery: ObservedDelivery, entry: ListenerEntry, event: unknown, meta: DeliveryMeta | undefined): unknown {
    const api = this.api;
    const origin = this.origins.get(delivery.handle);
    const parent = origin?.parent ?? api.context.active();
    const remote = origin?.remote === true;
    const name = delivery.handle.eventName;
    const attributes: Attributes = {
      [ATTR_SYSTEM]: this.settings.system,
      [ATTR_DESTINATION]: name,
      [ATTR_OPERATION_NAME]: 'process',
      [ATTR_OPERATION_TYPE]: 'process',
      [ATTR_LISTENER]: delivery.listener,
      [ATTR_HANDLE_ID]: delivery.handle.id,
      [ATTR_MESSAGE_ID]: meta?.id ?? delivery.handle.id,
    };
    if (meta !== undefined) {
      attributes[ATTR_ATTEMPT] = meta.attempt;
      const group = this.settings.groupOf(delivery.listener);
      if (group !== undefined) attributes[ATTR_CONSUMER_GROUP] = group;
    }
    const span = this.tracer.startSpan(
      `process ${name}`,
      { kind: remote ? api.SpanKind.CONSUMER : api.SpanKind.INTERNAL, attributes },
      parent,
    );
    this.spans.set(delivery, span);
    const context = api.trace.setSpan(parent, span);
    return api.context.with(context, callWatchedEntry, undefined, entry, event, meta, delivery.handle.eventName);
  }

  /** Marks a span failed: `error.type`, the exception, status ERROR. */
  fail(span: Span, error: unknown): void {
    span.setAttribute(ATTR_ERROR_TYPE, errorType(error));
    if (error instanceof Error) span.recordException(error);
    span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
  }
}

/** The PRODUCER span of one send, ended when the driver reports the outcome. */
class SendScope implements OutgoingScope {
  constructor(
    private readonly span: Span,
    readonly headers: Readonly<Record<string, string>> | undefined,
    private readonly tracing: TracingObserver,
  ) {}

  sent(error?: unknown): void {
    if (error !== undefined) this.tracing.fail(this.span, error);
    this.span.end();
  }
}
