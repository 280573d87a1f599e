import type { Context, SpanContext } from '@opentelemetry/api';
import type { OtelApiModule } from './otel-peer';

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const INVALID_TRACE = '00000000000000000000000000000000';
const INVALID_SPAN = '0000000000000000';

/**
 * W3C trace context (`traceparent`, `tracestate`) in the envelope's headers, written and read by the
 * bus itself: what travels is W3C whatever propagator the app registered, and a context from any
 * other W3C producer is honoured.
 */
export function injectTraceContext(spanContext: SpanContext, headers: Record<string, string>): void {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  headers.traceparent = `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
  const state = spanContext.traceState?.serialize();
  if (state) headers.tracestate = state;
}

/** The remote parent the headers name, as a context; `ROOT_CONTEXT` when there is none (or it is malformed). */
export function extractTraceContext(api: OtelApiModule, headers: Readonly<Record<string, string>> | undefined): Context {
  const parent = headers?.traceparent;
  if (parent === undefined) return api.ROOT_CONTEXT;
  const match = TRACEPARENT.exec(parent.trim().toLowerCase());
  if (match === null) return api.ROOT_CONTEXT;
  const [, version, traceId, spanId, flags, rest] = match;
  // Version ff is invalid; version 00 has exactly four fields (later versions may add more).
  if (version === 'ff' || (version === '00' && rest !== undefined)) return api.ROOT_CONTEXT;
  if (traceId === INVALID_TRACE || spanId === INVALID_SPAN) return api.ROOT_CONTEXT;
  const state = headers?.tracestate;
  return api.trace.setSpanContext(api.ROOT_CONTEXT, {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: parseInt(flags!, 16) & 1,
    isRemote: true,
    traceState: state ? api.createTraceState(state) : undefined,
  });
}
