import { Injectable } from '@nestjs/common';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { OnEvent } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { parentSpanId, spansNamed, useOtelRedisApps } from '../support/otel';
import { rawClient } from '../support/redis-test-app';
import { standaloneBus } from '../support/standalone-bus';
import { freshPrefix, until } from '../support/streams-test-app';

const tracer = trace.getTracer('test');
const harness = useOtelRedisApps({ resetSpans: true });
const boot = harness.boot;

const attr = (span: ReadableSpan, key: string): unknown => span.attributes[key];

/** A listener that starts a span of its own (it must nest under the listener's span). */
@Injectable()
class Mailer {
  calls = 0;
  /** How many arguments each call of `send` got: a traced call passes (event, meta) like any other. */
  arity: number[] = [];
  @OnEvent('user.registered')
  send(...args: unknown[]): void {
    this.calls++;
    this.arity.push(args.length);
    tracer.startSpan('mailer.work').end();
  }
  @OnEvent('user.registered', { async: true })
  async later(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 5));
    tracer.startSpan('mailer.later').end();
  }
}

@Injectable()
class Failing {
  @OnEvent('order.failed')
  fail(): void {
    throw new RangeError('no stock');
  }
}

describe('tracing in one process (memory driver)', () => {
  it('runs a dispatch made before the bus was ready in the trace it was dispatched in, not the one that made it ready', async () => {
    const { bus, runtime } = standaloneBus({ telemetry: { tracing: true } });
    const calls: string[] = [];
    bus.registerListener({
      eventName: 'early.event',
      name: 'Early',
      onEvent: () => {
        calls.push('early');
        tracer.startSpan('early.work').end();
      },
    });
    const request = tracer.startActiveSpan('http.request', (span) => {
      bus.dispatch('early.event', { n: 1 });
      span.end();
      return span;
    });
    const untraced = bus.dispatch('early.event', { n: 2 });
    await tracer.startActiveSpan('app.boot', async (boot) => {
      await runtime.start();
      runtime.markReady();
      boot.end();
    });
    await untraced.orThrow();
    await bus.close();
    expect(calls).toEqual(['early', 'early']);
    const boot = spansNamed(harness.otel.spans(), 'app.boot')[0]!;
    const [first, second] = spansNamed(harness.otel.spans(), 'process early.event');
    expect(first!.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(parentSpanId(first!)).toBe(request.spanContext().spanId);
    // Dispatched with no span active: a trace of its own, not a child of the boot span.
    expect(second!.spanContext().traceId).not.toBe(boot.spanContext().traceId);
    expect(parentSpanId(second!)).toBeUndefined();
    const work = spansNamed(harness.otel.spans(), 'early.work');
    expect(parentSpanId(work[0]!)).toBe(first!.spanContext().spanId);
  });

  it('makes each listener call an INTERNAL span of the dispatching trace, with user spans nested under it', async () => {
    const { bus, app } = await boot({ providers: [Mailer] }, { telemetry: { tracing: true } });
    await tracer.startActiveSpan('http.request', async (span) => {
      await bus.dispatch('user.registered', { id: 1 }).orThrow();
      span.end();
    });
    await until(() => spansNamed(harness.otel.spans(), 'mailer.later').length === 1);
    const spans = harness.otel.spans();
    const request = spansNamed(spans, 'http.request')[0]!;
    const processSpans = spansNamed(spans, 'process user.registered');
    expect(processSpans).toHaveLength(2);
    for (const span of processSpans) {
      expect(span.kind).toBe(SpanKind.INTERNAL);
      expect(span.spanContext().traceId).toBe(request.spanContext().traceId);
      expect(parentSpanId(span)).toBe(request.spanContext().spanId);
      expect(attr(span, 'messaging.operation.name')).toBe('process');
      expect(attr(span, 'messaging.operation.type')).toBe('process');
      expect(attr(span, 'messaging.destination.name')).toBe('user.registered');
      expect(attr(span, 'messaging.system')).toBe('memory');
    }
    const sync = processSpans.find((s) => attr(s, 'event_bus.listener') === 'Mailer.send')!;
    const async = processSpans.find((s) => attr(s, 'event_bus.listener') === 'Mailer.later')!;
    expect(parentSpanId(spansNamed(spans, 'mailer.work')[0]!)).toBe(sync.spanContext().spanId);
    expect(parentSpanId(spansNamed(spans, 'mailer.later')[0]!)).toBe(async.spanContext().spanId);
    expect(spansNamed(spans, 'send user.registered')).toHaveLength(0);
    expect(app.get(Mailer).arity).toEqual([2]);
  });

  it('async listeners of dispatches from different requests hang under their own request', async () => {
    const { bus } = await boot({ providers: [Mailer] }, { telemetry: { tracing: true } });
    const handles = ['a', 'b'].map((name) =>
      tracer.startActiveSpan(`request.${name}`, (span) => {
        const handle = bus.dispatch('user.registered', { name });
        span.end();
        return handle;
      }),
    );
    await Promise.all(handles.map((h) => h.orThrow()));
    const spans = harness.otel.spans();
    for (const name of ['a', 'b']) {
      const request = spansNamed(spans, `request.${name}`)[0]!;
      const children = spansNamed(spans, 'process user.registered').filter((s) => parentSpanId(s) === request.spanContext().spanId);
      expect(children.map((s) => attr(s, 'event_bus.listener')).sort()).toEqual(['Mailer.later', 'Mailer.send']);
    }
  });

  it('a failing listener sets the span status and error.type', async () => {
    const { bus } = await boot({ providers: [Failing] }, { telemetry: { tracing: true } });
    await bus.dispatch('order.failed', {}).done;
    const [span] = spansNamed(harness.otel.spans(), 'process order.failed');
    expect(span!.status.code).toBe(SpanStatusCode.ERROR);
    expect(span!.status.message).toBe('no stock');
    expect(attr(span!, 'error.type')).toBe('RangeError');
    expect(span!.events.some((e) => e.name === 'exception')).toBe(true);
  });

  it('records no span when tracing is off', async () => {
    const { bus } = await boot({ providers: [Mailer] }, {});
    await tracer.startActiveSpan('http.request', async (span) => {
      await bus.dispatch('user.registered', {}).orThrow();
      span.end();
    });
    await until(() => spansNamed(harness.otel.spans(), 'mailer.later').length === 1);
    const spans = harness.otel.spans();
    expect(spans.map((s) => s.name).sort()).toEqual(['http.request', 'mailer.later', 'mailer.work']);
    // The user's spans still nest under the request (the bus adds no level and no span).
    const request = spansNamed(spans, 'http.request')[0]!;
    expect(parentSpanId(spansNamed(spans, 'mailer.work')[0]!)).toBe(request.spanContext().spanId);
  });
});

@Injectable()
class RemoteMailer {
  received: unknown[] = [];
  @OnEvent('user.registered')
  send(event: unknown): void {
    this.received.push(event);
    tracer.startSpan('remote.work').end();
  }
}

describe('tracing across processes (redis pub/sub)', () => {
  it('one trace: request span → PRODUCER send → CONSUMER process in the other app → the listener’s own span', async () => {
    const prefix = freshPrefix('tr');
    const redis = { url: harness.server.url, channelPrefix: prefix };
    const consumer = await boot({ providers: [RemoteMailer] }, { driver: 'redis', redis, telemetry: { tracing: true } });
    const producer = await boot({}, { driver: 'redis', redis, telemetry: { tracing: true } });
    let requestSpanId = '';
    let traceId = '';
    await tracer.startActiveSpan('http.request', async (span) => {
      requestSpanId = span.spanContext().spanId;
      traceId = span.spanContext().traceId;
      await producer.bus.dispatch('user.registered', { id: 7 }).orThrow();
      span.end();
    });
    await until(() => spansNamed(harness.otel.spans(), 'remote.work').length === 1);
    const spans = harness.otel.spans();
    const [send] = spansNamed(spans, 'send user.registered');
    const [processSpan] = spansNamed(spans, 'process user.registered');
    expect(send!.kind).toBe(SpanKind.PRODUCER);
    expect(parentSpanId(send!)).toBe(requestSpanId);
    expect(send!.spanContext().traceId).toBe(traceId);
    expect(attr(send!, 'messaging.system')).toBe('redis');
    expect(attr(send!, 'messaging.operation.type')).toBe('send');
    expect(attr(send!, 'messaging.destination.name')).toBe('user.registered');
    expect(attr(send!, 'messaging.message.id')).toMatch(/^[0-9a-f]{16}$/);
    expect(processSpan!.kind).toBe(SpanKind.CONSUMER);
    expect(processSpan!.spanContext().traceId).toBe(traceId);
    expect(parentSpanId(processSpan!)).toBe(send!.spanContext().spanId);
    expect(attr(processSpan!, 'messaging.message.id')).toBe(attr(send!, 'messaging.message.id'));
    expect(parentSpanId(spansNamed(spans, 'remote.work')[0]!)).toBe(processSpan!.spanContext().spanId);
    expect(consumer.app.get(RemoteMailer).received).toHaveLength(1);
  });

  it('the envelope carries W3C traceparent in headers; a context from another W3C producer is honoured, none starts a trace', async () => {
    const prefix = freshPrefix('tw');
    const redis = { url: harness.server.url, channelPrefix: prefix };
    await boot({ providers: [RemoteMailer] }, { driver: 'redis', redis, telemetry: { tracing: true } });
    const raw = rawClient(harness.server.url);
    try {
      const foreignTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
      const envelope = {
        event_name: 'user.registered',
        event_type: 'user.registered',
        event_data: { id: 1 },
        handle_id: '0123456789abcdef',
        timestamp: 1767225600,
        headers: { traceparent: `00-${foreignTrace}-00f067aa0ba902b7-01`, tracestate: 'vendor=abc' },
      };
      await raw.publish(`${prefix}user.registered`, JSON.stringify(envelope));
      // goevent sends no headers: the consumer span starts a trace of its own.
      await raw.publish(`${prefix}user.registered`, JSON.stringify({ ...envelope, headers: undefined, handle_id: 'fedcba9876543210' }));
      await until(() => spansNamed(harness.otel.spans(), 'process user.registered').length === 2);
      const [fromW3c, fromGoevent] = spansNamed(harness.otel.spans(), 'process user.registered');
      expect(fromW3c!.spanContext().traceId).toBe(foreignTrace);
      expect(parentSpanId(fromW3c!)).toBe('00f067aa0ba902b7');
      expect(fromW3c!.spanContext().traceState?.get('vendor')).toBe('abc');
      expect(fromGoevent!.spanContext().traceId).not.toBe(foreignTrace);
      expect(parentSpanId(fromGoevent!)).toBeUndefined();

      // What a traced producer writes.
      const sub = rawClient(harness.server.url);
      const messages: string[] = [];
      sub.on('message', (_channel: string, message: string) => messages.push(message));
      await sub.subscribe(`${prefix}order.sent`);
      const producer = await boot({}, { driver: 'redis', redis, telemetry: { tracing: true } });
      await producer.bus.dispatch('order.sent', { id: 2 }).orThrow();
      await until(() => messages.length === 1);
      const sent = JSON.parse(messages[0]!) as { headers: { traceparent: string }; origin: string };
      const [send] = spansNamed(harness.otel.spans(), 'send order.sent');
      expect(sent.headers.traceparent).toBe(`00-${send!.spanContext().traceId}-${send!.spanContext().spanId}-01`);
      expect(Object.keys(sent).at(-1)).toBe('origin');
      sub.disconnect();
    } finally {
      raw.disconnect();
    }
  });
});

let failuresLeft = 0;
@Injectable()
class Billing {
  calls = 0;
  @OnEvent('invoice.due', { retry: { attempts: 3, backoff: { baseMs: 10 } } })
  charge(): void {
    this.calls++;
    tracer.startSpan('billing.work').end();
    if (failuresLeft-- > 0) throw new TypeError('card declined');
  }
}

describe('tracing across processes (redis-streams)', () => {
  it('every attempt is its own CONSUMER span under the original PRODUCER span, with the attempt number', async () => {
    failuresLeft = 2;
    const prefix = freshPrefix('ts');
    await boot(
      { providers: [Billing] },
      {
        driver: 'redis-streams',
        redis: { url: harness.server.url, channelPrefix: prefix },
        streams: { group: 'billing', blockMs: 200 },
        telemetry: { tracing: true },
      },
    );
    const producer = await boot(
      {},
      { driver: 'redis-streams', redis: { url: harness.server.url, channelPrefix: prefix }, telemetry: { tracing: true } },
    );
    let requestSpanId = '';
    await tracer.startActiveSpan('http.request', async (span) => {
      requestSpanId = span.spanContext().spanId;
      await producer.bus.dispatch('invoice.due', { id: 3 }).orThrow();
      span.end();
    });
    await until(() => spansNamed(harness.otel.spans(), 'process invoice.due').length === 3, 10_000, 'three attempts');
    const spans = harness.otel.spans();
    const [send] = spansNamed(spans, 'send invoice.due');
    expect(parentSpanId(send!)).toBe(requestSpanId);
    const attempts = spansNamed(spans, 'process invoice.due').sort(
      (a, b) => Number(attr(a, 'event_bus.delivery.attempt')) - Number(attr(b, 'event_bus.delivery.attempt')),
    );
    expect(attempts.map((s) => attr(s, 'event_bus.delivery.attempt'))).toEqual([1, 2, 3]);
    for (const span of attempts) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(span.spanContext().traceId).toBe(send!.spanContext().traceId);
      expect(parentSpanId(span)).toBe(send!.spanContext().spanId);
      expect(attr(span, 'messaging.consumer.group.name')).toBe('billing:Billing.charge');
      expect(attr(span, 'messaging.message.id')).toMatch(/^\d+-\d+$/);
      expect(attr(span, 'event_bus.handle_id')).toBe(attr(send!, 'messaging.message.id'));
    }
    expect(attempts.map((s) => s.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR, SpanStatusCode.UNSET]);
    expect(attr(attempts[0]!, 'error.type')).toBe('TypeError');
    const work = spansNamed(spans, 'billing.work');
    expect(work.map(parentSpanId).sort()).toEqual(attempts.map((s) => s.spanContext().spanId).sort());
  });
});
