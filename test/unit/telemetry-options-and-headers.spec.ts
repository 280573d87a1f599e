import * as api from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { resolveEventBusOptions } from '../../lib/options/event-bus-options.validator';
import { EventCodec } from '../../lib/serialization/event-codec';
import { extractTraceContext } from '../../lib/telemetry/w3c-trace-context';

describe('telemetry options', () => {
  it('are off by default and validated with their name', () => {
    expect(resolveEventBusOptions({}).telemetry).toEqual({ tracing: false, metrics: false, groupStatsCacheMs: 5000 });
    expect(resolveEventBusOptions({ telemetry: { tracing: true } }).telemetry.tracing).toBe(true);
    expect(() => resolveEventBusOptions({ telemetry: { tracing: 'yes' as unknown as boolean } })).toThrow(/telemetry\.tracing.*true or false/);
    expect(() => resolveEventBusOptions({ telemetry: { traces: true } as never })).toThrow(/telemetry\.traces.*not an option/);
    expect(() => resolveEventBusOptions({ telemetry: [] as never })).toThrow(/telemetry.*must be an object/);
    expect(() => resolveEventBusOptions({ telemetry: { groupStatsCacheMs: -1 } })).toThrow(/telemetry\.groupStatsCacheMs/);
  });
});

describe('envelope headers', () => {
  const codec = new EventCodec({ maxEventSize: 1 << 20, strictTypes: false, origin: 'bus1' });

  it('travel before origin (which stays last) and come back; without headers the envelope is unchanged', () => {
    const out = codec.encode('a.b', 'a.b', { x: 1 }, '0123456789abcdef', { traceparent: 'tp', tracestate: 'ts' });
    expect(out.payload.endsWith(',"headers":{"traceparent":"tp","tracestate":"ts"},"origin":"bus1"}')).toBe(true);
    expect(codec.decode(out.payload, 'a.b').headers).toEqual({ traceparent: 'tp', tracestate: 'ts' });
    const plain = codec.encode('a.b', 'a.b', { x: 1 }, '0123456789abcdef');
    expect(plain.payload).not.toContain('headers');
    expect(codec.decode(plain.payload, 'a.b').headers).toBeUndefined();
  });

  it('keep only string values of a bounded size from a received envelope', () => {
    const raw = JSON.stringify({
      event_name: 'a.b',
      event_type: 'a.b',
      event_data: {},
      handle_id: '0123456789abcdef',
      timestamp: 1,
      headers: { traceparent: 'tp', n: 1, nested: { a: 1 }, long: 'x'.repeat(5000) },
    });
    expect(codec.decode(raw, 'a.b').headers).toEqual({ traceparent: 'tp' });
    expect(codec.decode(raw.replace(/"headers":\{[^}]*\{[^}]*\}[^}]*\}/, '"headers":"nope"'), 'a.b').headers).toBeUndefined();
  });
});

describe('W3C trace context from headers', () => {
  const valid = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  it('honours a valid traceparent (and tracestate), ignores malformed ones', () => {
    const ctx = extractTraceContext(api, { traceparent: valid, tracestate: 'a=1' });
    const sc = api.trace.getSpanContext(ctx)!;
    expect(sc).toMatchObject({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1, isRemote: true });
    expect(sc.traceState?.get('a')).toBe('1');
    for (const bad of [
      'garbage',
      'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01',
      `${valid}-extra`,
    ]) {
      expect(api.trace.getSpanContext(extractTraceContext(api, { traceparent: bad }))).toBeUndefined();
    }
    expect(extractTraceContext(api, undefined)).toBe(api.ROOT_CONTEXT);
  });
});
