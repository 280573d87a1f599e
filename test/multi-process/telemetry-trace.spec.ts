import { trace } from '@opentelemetry/api';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp } from '../support/boot-app';
import { installOtel, type OtelHarness } from '../support/otel';
import { RedisServer } from '../support/redis-server';
import { freshPrefix, until } from '../support/streams-test-app';

const FIXTURE = resolve(__dirname, '../../.build/test/fixtures/traced-consumer.js');

interface PrintedSpan {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: Record<string, unknown>;
}

let otel: OtelHarness;
let server: RedisServer;

beforeAll(async () => {
  otel = installOtel();
  server = await RedisServer.start();
});
afterAll(async () => {
  await otel.shutdown();
  await server?.destroy();
});

/** One process running test/fixtures/traced-consumer.ts; collects the spans it prints. */
async function startConsumer(
  driver: string,
  prefix: string,
): Promise<{ child: ChildProcess; spans: PrintedSpan[]; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [FIXTURE], {
    env: { ...process.env, REDIS_URL: server.url, PREFIX: prefix, DRIVER: driver },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spans: PrintedSpan[] = [];
  let ready = false;
  let stderr = '';
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      if (line === 'ready') ready = true;
      else if (line.startsWith('{')) spans.push((JSON.parse(line) as { span: PrintedSpan }).span);
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await until(() => ready || child.exitCode !== null, 20_000, 'the traced consumer to start');
  if (!ready) throw new Error(`traced-consumer exited: ${stderr}`);
  return {
    child,
    spans,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('one trace across processes', () => {
  it('the fixture is built (npm run build:apps)', () => {
    expect(existsSync(FIXTURE)).toBe(true);
  });

  for (const driver of ['redis', 'redis-streams']) {
    it(`${driver}: the span around the dispatch → PRODUCER send here → CONSUMER process and the listener's span in the other process`, async () => {
      const prefix = freshPrefix('mt');
      const consumer = await startConsumer(driver, prefix);
      const producer = await bootApp(
        {},
        { driver: driver as 'redis', redis: { url: server.url, channelPrefix: prefix }, telemetry: { tracing: true } },
      );
      try {
        let traceId = '';
        await trace.getTracer('test').startActiveSpan('http.request', async (span) => {
          traceId = span.spanContext().traceId;
          await producer.bus.dispatch('trace.me', { id: 1 }).orThrow();
          span.end();
        });
        await until(() => consumer.spans.some((s) => s.name === 'consumer.work'), 10_000, 'the remote listener span');
        const send = otel.spans().find((s) => s.name === 'send trace.me' && s.spanContext().traceId === traceId)!;
        expect(send).toBeDefined();
        const processSpan = consumer.spans.find((s) => s.name === 'process trace.me')!;
        expect(processSpan.traceId).toBe(traceId);
        expect(processSpan.parentSpanId).toBe(send.spanContext().spanId);
        expect(processSpan.kind).toBe(4 /* SpanKind.CONSUMER */);
        expect(processSpan.attributes['messaging.system']).toBe('redis');
        const work = consumer.spans.find((s) => s.name === 'consumer.work')!;
        expect(work.traceId).toBe(traceId);
        expect(work.parentSpanId).toBe(processSpan.spanId);
      } finally {
        await producer.close();
        await consumer.stop();
      }
    });
  }
});
