import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type Redis from 'ioredis';
import { EventBus, EventBusModule, MessageRejectedError, OnEvent } from 'nestjs-event-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturingLogger } from '../support/capturing-logger';
import { RedisServer } from '../support/redis-server';
import { rawClient, until } from '../support/redis-test-app';

@Injectable()
class Listener {
  seen = 0;
  @OnEvent('flood.bad')
  onBad(): void {
    this.seen++;
  }
}

/**
 * A flood of unusable messages is counted and on errors$, one error each; the pub/sub driver writes no
 * log line per message (the bus logs reported errors itself, rate-limited).
 */
describe('redis driver: rejected messages do not flood the log', () => {
  let server: RedisServer;
  let admin: Redis;
  beforeAll(async () => {
    server = await RedisServer.start();
    admin = rawClient(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.destroy();
  });

  it('1,000 rejected messages: 1,000 errors and counts, a handful of log lines at most', async () => {
    @Module({ imports: [EventBusModule.forRoot({ driver: 'redis', redis: { url: server.url } })], providers: [Listener] })
    class AppModule {}
    const logger = new CapturingLogger();
    const app = await Test.createTestingModule({ imports: [AppModule] })
      .setLogger(logger)
      .compile();
    await app.init();
    try {
      const bus = app.get(EventBus);
      let rejected = 0;
      bus.errors$.subscribe((e) => {
        if (e.cause instanceof MessageRejectedError) rejected++;
      });
      const pipeline = admin.pipeline();
      for (let i = 0; i < 1_000; i++) {
        pipeline.publish(
          'goevent:flood.bad',
          i % 2 === 0 ? `{not json ${i}` : JSON.stringify({ event_name: 'flood.bad', event_data: { __proto__x: 1, constructor: i } }),
        );
      }
      await pipeline.exec();
      await until(() => bus.stats().rejectedMessages === 1_000, 'every message counted');
      expect(rejected).toBe(1_000);
      expect(app.get(Listener).seen).toBe(0);
      const noisy = logger.lines.filter((l) => l.level === 'warn' || l.level === 'error');
      expect(noisy.length, noisy.map((l) => l.message).join('\n')).toBeLessThanOrEqual(20);
    } finally {
      await app.close();
    }
  });
});
