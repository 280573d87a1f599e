import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { EventError, SubscriberDisconnectedError, OnEvent } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';
import { rawClient, startRedisApp, until, type RedisTestApp } from '../support/redis-test-app';

/**
 * Redis drops a pub/sub subscriber whose output buffer passes `client-output-buffer-limit pubsub`
 * (a slow subscriber, or a flood of large messages): every event published until it has resubscribed
 * is lost. At-most-once allows the loss; it must not be silent.
 */
@Injectable()
class SlowListener {
  flood = 0;
  readonly markers: number[] = [];
  @OnEvent('flood.item')
  onItem(): void {
    // A slow listener: it blocks the event loop, as a CPU-heavy handler would.
    const until = Date.now() + 1;
    while (Date.now() < until);
    this.flood++;
  }
  @OnEvent('flood.marker')
  onMarker(event: { n: number }): void {
    this.markers.push(event.n);
  }
}

describe('redis driver: a subscriber Redis drops for its output buffer', () => {
  let server: RedisServer;
  let admin: Redis;
  const apps: RedisTestApp[] = [];

  beforeAll(async () => {
    // Tiny limits, so a few hundred kilobytes published at once pass the hard limit.
    server = await RedisServer.start({ config: ['client-output-buffer-limit pubsub 64kb 32kb 1'] });
    admin = rawClient(server.url);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.destroy();
  });

  const start = async (): Promise<RedisTestApp> => {
    const app = await startRedisApp({ url: server.url, retryStrategy: () => 50 }, [SlowListener]);
    apps.push(app);
    return app;
  };
  const subscribers = async (): Promise<number> => {
    const [, n] = (await admin.pubsub('NUMSUB', 'goevent:flood.marker')) as [string, number];
    return Number(n);
  };

  it('reports every forced disconnect on errors$ as a SubscriberDisconnectedError, counts it, and resubscribes', async () => {
    const receiver = await start();
    const sender = await start();
    // 2,000 envelopes of ~1 KB written to the subscriber in one go (a flood, as a fast publisher or large messages make).
    const envelope = JSON.stringify({
      event_name: 'flood.item',
      event_type: 'flood.item',
      event_data: { pad: 'x'.repeat(1_000) },
      handle_id: '0123456789abcdef',
      timestamp: 1_700_000_000,
    });
    const flood = "for i = 1, tonumber(ARGV[2]) do redis.call('PUBLISH', KEYS[1], ARGV[1]) end return 1";
    await admin.eval(flood, 1, 'goevent:flood.item', envelope, '2000');

    await until(() => receiver.errors.some((e) => e.cause instanceof SubscriberDisconnectedError), 'the disconnect on errors$');
    const error = receiver.errors.find((e) => e.cause instanceof SubscriberDisconnectedError)!;
    expect(error).toBeInstanceOf(EventError);
    expect(error.listener).toBe('subscriber');
    const cause = error.cause as SubscriberDisconnectedError;
    expect(cause.target).toBe(server.url.replace(/\/$/, ''));
    expect(cause.reason).toMatch(/^the connection was closed by Redis while Redis kept running \(likely client-output-buffer-limit pubsub/);
    expect(cause.message).toMatch(/events published until it has resubscribed are missed/);
    expect(cause.message).toMatch(/redis-streams/);
    expect(receiver.bus.stats().subscriberDisconnects).toBe(1);
    expect(receiver.bus.stats().rejectedMessages).toBe(0);
    // The sender's subscriber got the same flood: it was dropped too, and says so.
    await until(() => sender.bus.stats().subscriberDisconnects === 1, "the sender's own disconnect");
    expect(receiver.get(SlowListener).flood).toBeLessThan(2_000);

    // It resubscribes by itself, and a second flood is a second error.
    await until(async () => (await subscribers()) === 2, 'both apps to resubscribe', 15_000);
    await admin.eval(flood, 1, 'goevent:flood.item', envelope, '2000');
    await until(() => receiver.bus.stats().subscriberDisconnects === 2, 'the second disconnect');
    await until(async () => (await subscribers()) === 2, 'both apps to resubscribe again', 15_000);
    const { errors } = await sender.bus.dispatch('flood.marker', { n: 1 });
    expect(errors).toEqual([]);
    await until(() => receiver.get(SlowListener).markers.includes(1), 'an event after the resubscription');
    expect(receiver.errors.filter((e) => e.cause instanceof SubscriberDisconnectedError)).toHaveLength(2);
  });

  it('closing the app is not a forced disconnect', async () => {
    const app = await start();
    await app.close();
    expect(app.errors).toEqual([]);
    expect(app.bus.stats().subscriberDisconnects).toBe(0);
  });
});
