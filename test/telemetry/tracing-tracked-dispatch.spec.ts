import { Injectable } from '@nestjs/common';
import { SpanKind, trace } from '@opentelemetry/api';
import { OnEvent } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { parentSpanId, spansNamed, useOtelRedisApps } from '../support/otel';
import { rawClient } from '../support/redis-test-app';
import { freshPrefix, until } from '../support/streams-test-app';

// A dispatch that is traced and tracked: the envelope carries both the reports channel and the
// trace context, so the remote listener's span is the child of the producer span and its outcome
// still comes back on the handle.
const tracer = trace.getTracer('test');
const harness = useOtelRedisApps({ resetSpans: true });
const boot = harness.boot;

@Injectable()
class Payments {
  @OnEvent('payment.requested')
  charge(): void {
    tracer.startSpan('payments.work').end();
  }
}

describe.each([
  ['redis', {}],
  ['redis-streams', { streams: { group: 'payments', blockMs: 200 } }],
] as const)('a traced, tracked dispatch (%s)', (driver, extra) => {
  it('carries reply_to and traceparent: the consumer span is the child of the producer span, the outcome is on the handle', async () => {
    const prefix = freshPrefix('tt');
    const redis = { url: harness.server.url, channelPrefix: prefix };
    await boot({ providers: [Payments] }, { driver, redis, ...extra, telemetry: { tracing: true } });
    const producer = await boot({}, { driver, redis, telemetry: { tracing: true } });
    const raw = rawClient(harness.server.url);
    try {
      let requestSpanId = '';
      const result = await tracer.startActiveSpan('http.request', async (span) => {
        requestSpanId = span.spanContext().spanId;
        const handle = producer.bus.dispatch('payment.requested', { id: 1 }, { trackRemote: { timeoutMs: 5_000 } });
        const settled = await handle;
        span.end();
        return settled;
      });
      expect(result.errors).toEqual([]);
      const remote = result.outcomes.filter((o) => o.origin === 'remote');
      expect(remote).toHaveLength(1);
      expect(remote[0]!.ok).toBe(true);
      await until(() => spansNamed(harness.otel.spans(), 'payments.work').length === 1);
      const spans = harness.otel.spans();
      const [send] = spansNamed(spans, 'send payment.requested');
      const [processSpan] = spansNamed(spans, 'process payment.requested');
      expect(send!.kind).toBe(SpanKind.PRODUCER);
      expect(parentSpanId(send!)).toBe(requestSpanId);
      expect(processSpan!.kind).toBe(SpanKind.CONSUMER);
      expect(processSpan!.spanContext().traceId).toBe(send!.spanContext().traceId);
      expect(parentSpanId(processSpan!)).toBe(send!.spanContext().spanId);
      expect(parentSpanId(spansNamed(spans, 'payments.work')[0]!)).toBe(processSpan!.spanContext().spanId);
      // The producer span ended once the event was sent.
      expect(send!.ended).toBe(true);
      if (driver === 'redis-streams') {
        // What was appended: both fields in one envelope (on pub/sub a raw subscriber would be one
        // more receiver that never reports; the span parentage and the outcome above say the same).
        const entries = (await raw.xrange(`${prefix}payment.requested`, '-', '+')) as Array<[string, string[]]>;
        const fields = entries[0]![1];
        const envelope = JSON.parse(fields[fields.length - 1]!) as Record<string, unknown>;
        expect(envelope.reply_to).toMatch(new RegExp(`^${prefix}__reports:`));
        expect((envelope.headers as Record<string, string>).traceparent).toBe(
          `00-${send!.spanContext().traceId}-${send!.spanContext().spanId}-01`,
        );
      }
    } finally {
      raw.disconnect();
    }
  });
});
