import { Injectable } from '@nestjs/common';
import { OnEvent } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { useOtelRedisApps } from '../support/otel';
import { freshPrefix, rawRedis, until } from '../support/streams-test-app';

const harness = useOtelRedisApps({ resetSpans: false });
const boot = harness.boot;

let flakyFailures = 0;
@Injectable()
class Shop {
  @OnEvent('m.order')
  ok(): void {}
  @OnEvent('m.order', { retry: { attempts: 3, backoff: { baseMs: 1 } } })
  flaky(): void {
    if (flakyFailures-- > 0) throw new Error('flaky');
  }
  @OnEvent('m.refund')
  fails(): void {
    throw new RangeError('nope');
  }
  @OnEvent('m.slow', { timeoutMs: 10 })
  async slow(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const LISTENER = 'event_bus.listener';
const EVENT = 'messaging.destination.name';

describe('metrics (memory driver)', () => {
  it('counts listener calls, errors, retries and timeouts, with event name and listener only', async () => {
    flakyFailures = 2;
    const { bus } = await boot({ providers: [Shop] }, { telemetry: { metrics: true } });
    for (let i = 0; i < 4; i++) await bus.dispatch('m.order', { secret: `payload-${i}` }).done;
    for (let i = 0; i < 3; i++) await bus.dispatch('m.refund', {}).done;
    await bus.dispatch('m.slow', {}).done;
    expect(await harness.otel.sum('messaging.process.duration', { [EVENT]: 'm.order', [LISTENER]: 'Shop.ok' })).toBe(4);
    expect(await harness.otel.sum('messaging.process.duration', { [EVENT]: 'm.refund', 'error.type': 'RangeError' })).toBe(3);
    expect(await harness.otel.sum('event_bus.listener.errors', { [EVENT]: 'm.refund', [LISTENER]: 'Shop.fails' })).toBe(3);
    expect(await harness.otel.sum('event_bus.listener.retries', { [EVENT]: 'm.order', [LISTENER]: 'Shop.flaky' })).toBe(2);
    // Bounded: the event name and the listener, nothing else (no attempt numbers, no ids).
    const retries = await harness.otel.metric('event_bus.listener.retries');
    for (const point of retries!.dataPoints) expect(Object.keys(point.attributes).sort()).toEqual([LISTENER, EVENT]);
    expect(await harness.otel.sum('event_bus.listener.timeouts', { [EVENT]: 'm.slow', [LISTENER]: 'Shop.slow' })).toBe(1);
    // Nothing leaves the process on memory.
    expect(await harness.otel.sum('messaging.client.sent.messages')).toBe(0);
    const duration = await harness.otel.metric('messaging.process.duration');
    expect(duration!.descriptor.unit).toBe('s');
    for (const point of duration!.dataPoints) {
      for (const value of Object.values(point.attributes)) {
        expect(String(value)).not.toMatch(/payload|^[0-9a-f]{16}$/);
      }
      expect(Object.keys(point.attributes).sort()).toEqual(
        expect.arrayContaining(['event_bus.listener', 'messaging.destination.name', 'messaging.operation.name', 'messaging.system']),
      );
    }
  });
});

@Injectable()
class Billing {
  @OnEvent('m.invoice')
  charge(): void {}
  @OnEvent('m.chargeback')
  fail(): void {
    throw new Error('declined');
  }
}

@Injectable()
class Refusing {
  @OnEvent('m.refused')
  handle(): void {
    throw new Error('refused');
  }
}

describe('metrics across processes (redis-streams)', () => {
  it('counts sent and consumed messages, retries and dead letters; gauges of each group read in one batched, cached read', async () => {
    const prefix = freshPrefix('ms');
    const redis = { url: harness.server.url, channelPrefix: prefix };
    const before = {
      sent: await harness.otel.sum('messaging.client.sent.messages', { [EVENT]: 'm.invoice' }),
      retries: await harness.otel.sum('event_bus.listener.retries', { [LISTENER]: 'Billing.fail' }),
    };
    await boot(
      { providers: [Billing] },
      {
        driver: 'redis-streams',
        redis,
        streams: { group: 'bill', blockMs: 200, maxAttempts: 3 },
        telemetry: { metrics: true, groupStatsCacheMs: 200 },
      },
    );
    const producer = await boot({}, { driver: 'redis-streams', redis, telemetry: { metrics: true } });
    for (let i = 0; i < 5; i++) await producer.bus.dispatch('m.invoice', { i }).orThrow();
    await producer.bus.dispatch('m.chargeback', {}).orThrow();
    await until(
      async () => (await harness.otel.sum('event_bus.dead_letters', { [LISTENER]: 'Billing.fail' })) === 1,
      10_000,
      'a dead letter',
    );
    expect((await harness.otel.sum('messaging.client.sent.messages', { [EVENT]: 'm.invoice' })) - before.sent).toBe(5);
    await until(
      async () => (await harness.otel.sum('messaging.client.consumed.messages', { [EVENT]: 'm.invoice' })) === 5,
      5000,
      'consumed',
    );
    expect(
      await harness.otel.sum('messaging.client.consumed.messages', {
        [EVENT]: 'm.chargeback',
        'messaging.consumer.group.name': 'bill:Billing.fail',
      }),
    ).toBe(3);
    expect(
      (await harness.otel.sum('event_bus.listener.retries', { [EVENT]: 'm.chargeback', [LISTENER]: 'Billing.fail' })) - before.retries,
    ).toBe(2);
    expect(await harness.otel.sum('event_bus.listener.errors', { [EVENT]: 'm.chargeback' })).toBe(1);

    // The gauges: one pipeline per read, reused within groupStatsCacheMs.
    const monitor = rawRedis(harness.server.url);
    const commands: string[] = [];
    try {
      await until(
        async () => {
          const gauge = await harness.otel.metric('event_bus.consumer_group.dead_letters');
          return gauge?.dataPoints.some((p) => p.attributes['messaging.consumer.group.name'] === 'bill:Billing.fail' && p.value === 1);
        },
        5000,
        'dead-letter gauge',
      );
      const pending = await harness.otel.metric('event_bus.consumer_group.pending');
      expect(pending!.dataPoints.find((p) => p.attributes['messaging.consumer.group.name'] === 'bill:Billing.charge')?.value).toBe(0);
      const lag = await harness.otel.metric('event_bus.consumer_group.lag');
      expect(lag!.dataPoints.find((p) => p.attributes['messaging.consumer.group.name'] === 'bill:Billing.charge')?.value).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await monitor.monitor().then((m) => {
        m.on('monitor', (_time: string, args: string[]) => commands.push(args.join(' ')));
        return new Promise<void>((resolve) => {
          void (async () => {
            for (let i = 0; i < 5; i++) await harness.otel.metric('event_bus.consumer_group.lag');
            await new Promise((r) => setTimeout(r, 100));
            m.disconnect();
            resolve();
          })();
        });
      });
      const infos = commands.filter((c) => c.startsWith('XINFO GROUPS'));
      // Five collections within the cache time: one read, both streams in it.
      expect(infos).toHaveLength(2);
      expect(infos.some((c) => c.includes('m.invoice')) && infos.some((c) => c.includes('m.chargeback'))).toBe(true);
    } finally {
      monitor.disconnect();
    }
  });

  it('counts a dead letter when it is written, not when writing it failed', async () => {
    const prefix = freshPrefix('md');
    const redis = { url: harness.server.url, channelPrefix: prefix };
    const raw = rawRedis(harness.server.url);
    try {
      // A string where the dead-letter stream goes: XADD fails with WRONGTYPE, the entry stays pending.
      await raw.set(`${prefix}m.refused:dlq`, 'not a stream');
      const failures: unknown[] = [];
      const consumer = await boot(
        { providers: [Refusing] },
        {
          driver: 'redis-streams',
          redis,
          streams: { group: 'dl', blockMs: 100, maxAttempts: 1, claimIdleMs: 300 },
          telemetry: { metrics: true },
        },
      );
      consumer.bus.errors$.subscribe((e) => failures.push(e));
      const producer = await boot({}, { driver: 'redis-streams', redis });
      await producer.bus.dispatch('m.refused', {}).orThrow();
      await until(() => failures.length >= 1, 5000, 'the listener failure');
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await harness.otel.sum('event_bus.dead_letters', { [EVENT]: 'm.refused' })).toBe(0);
      expect(await harness.otel.sum('event_bus.listener.errors', { [EVENT]: 'm.refused' })).toBeGreaterThanOrEqual(1);
      // The key is fixed: the reclaimed entry is dead-lettered, and counted, once.
      await raw.del(`${prefix}m.refused:dlq`);
      await until(async () => (await raw.exists(`${prefix}m.refused:dlq`)) === 1, 10_000, 'the dead letter written');
      await until(async () => (await harness.otel.sum('event_bus.dead_letters', { [EVENT]: 'm.refused' })) === 1, 2000, 'the counter');
      expect(await raw.xlen(`${prefix}m.refused:dlq`)).toBe(1);
      expect(await harness.otel.sum('event_bus.dead_letters', { [EVENT]: 'm.refused', [LISTENER]: 'Refusing.handle' })).toBe(1);
    } finally {
      raw.disconnect();
    }
  });

  it('records nothing when metrics are off', async () => {
    const prefix = freshPrefix('mo');
    const before = await harness.otel.sum('messaging.client.sent.messages', { [EVENT]: 'm.quiet' });
    const app = await boot({}, { driver: 'redis-streams', redis: { url: harness.server.url, channelPrefix: prefix } });
    for (let i = 0; i < 3; i++) await app.bus.dispatch('m.quiet', {}).orThrow();
    expect(await harness.otel.sum('messaging.client.sent.messages', { [EVENT]: 'm.quiet' })).toBe(before);
    expect(before).toBe(0);
  });
});
