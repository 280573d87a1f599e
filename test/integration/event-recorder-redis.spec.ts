import { Injectable } from '@nestjs/common';
import { DomainEvent, OnEvent } from 'nestjs-event-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix } from '../support/streams-test-app';

@DomainEvent('rec.order.placed')
class OrderPlaced {
  constructor(readonly orderId: string) {}
}

@Injectable()
class Shipping {
  @OnEvent(OrderPlaced)
  ship(): void {}

  @OnEvent(OrderPlaced, { async: true })
  async invoice(): Promise<void> {}
}

describe('bus.record() against a real redis-server', () => {
  let server: RedisServer;
  const apps: BootedApp[] = [];
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    for (const app of apps) await app.close().catch(() => undefined);
    await server.destroy();
  });

  for (const protocol of [2, 3] as const) {
    it(`redis pub/sub (RESP${protocol}): the receiving app's recorder sees the event another app dispatched, once`, async () => {
      const prefix = freshPrefix('recps');
      const redis = { url: server.url, channelPrefix: prefix, protocol };
      const sender = await bootApp({}, { driver: 'redis', redis });
      const receiver = await bootApp({ providers: [Shipping] }, { driver: 'redis', redis });
      apps.push(sender, receiver);
      const sent = sender.bus.record();
      const got = receiver.bus.record();
      await sender.bus.dispatch(new OrderPlaced('o1'));
      const event = await got.waitFor(OrderPlaced, { where: (e) => e.orderId === 'o1', timeoutMs: 5_000 });
      expect(event).toBeInstanceOf(OrderPlaced);
      expect(sent.dispatched(OrderPlaced)).toEqual([new OrderPlaced('o1')]);
      expect(sent.received(OrderPlaced)).toEqual([]);
      await receiver.bus.wait({ timeoutMs: 2_000 });
      expect(got.received(OrderPlaced)).toEqual([new OrderPlaced('o1')]);
      expect(got.dispatched(OrderPlaced)).toEqual([]);
      sent.stop();
      got.stop();
    });
  }

  it('redis-streams: a durable event delivered to two listener groups is one received entry', async () => {
    const prefix = freshPrefix('recst');
    const sender = await bootStreamsApp({}, { url: server.url, prefix });
    const receiver = await bootStreamsApp({ providers: [Shipping] }, { url: server.url, prefix, streams: { group: 'shop' } });
    apps.push(sender, receiver);
    const got = receiver.bus.record();
    await sender.bus.dispatch(new OrderPlaced('o2'));
    await got.waitFor(OrderPlaced, { timeoutMs: 5_000 });
    // Both groups deliver: give the second one time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(got.received(OrderPlaced)).toEqual([new OrderPlaced('o2')]);
    got.stop();
  });
});
