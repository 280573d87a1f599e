import { Injectable, Module, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type Redis from 'ioredis';
import { EventBus, EventBusModule, MessageRejectedError, OnEvent, type EventError } from 'nestjs-event-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';
import { freshPrefix, rawRedis, until } from '../support/streams-test-app';

/** Every line the app logs, by level and context. */
class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string }> = [];
  log(message: string, context?: string): void {
    this.lines.push({ level: 'log', message, context });
  }
  error(message: string, _stack?: string, context?: string): void {
    this.lines.push({ level: 'error', message, context });
  }
  warn(message: string, context?: string): void {
    this.lines.push({ level: 'warn', message, context });
  }
  debug(): void {}
  verbose(): void {}
  loud(): Array<{ level: string; message: string }> {
    return this.lines.filter((l) => l.level === 'warn' || l.level === 'error');
  }
}

@Injectable()
class Billing {
  readonly seen: unknown[] = [];
  @OnEvent('order.placed')
  charge(event: unknown) {
    this.seen.push(event);
  }
}

@Injectable()
class Mailer {
  readonly seen: unknown[] = [];
  @OnEvent('order.placed', { async: true })
  async send(event: unknown) {
    this.seen.push(event);
  }
}

describe('redis-streams: a flood of rejected entries does not flood the log', () => {
  let server: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    server = await RedisServer.start();
    redis = rawRedis(server.url);
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.destroy();
  });

  it('N malformed entries rejected by two groups: one error per entry per group on errors$, a few log lines and a summary', async () => {
    const prefix = freshPrefix('flood');
    @Module({
      imports: [
        EventBusModule.forRoot({
          driver: 'redis-streams',
          redis: { url: server.url, channelPrefix: prefix },
          streams: { group: 'svc', blockMs: 200 },
        }),
      ],
      providers: [Billing, Mailer],
    })
    class AppModule {}
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger });
    await app.init();
    const bus = app.get(EventBus);
    const errors: EventError[] = [];
    const subscription = bus.errors$.subscribe((e) => errors.push(e));
    const N = 600;
    const key = `${prefix}order.placed`;
    const pipeline = redis.pipeline();
    for (let i = 0; i < N; i++) pipeline.xadd(key, '*', 'envelope', `not json ${i}`);
    await pipeline.exec();
    await bus.dispatch('order.placed', { n: 'valid' });
    try {
      await until(() => errors.length === 2 * N, 20_000, `${2 * N} rejections on errors$`);
      await until(() => app.get(Billing).seen.length === 1 && app.get(Mailer).seen.length === 1, 10_000, 'the valid event');
      expect(errors.every((e) => e.listener === 'subscriber' && e.cause instanceof MessageRejectedError)).toBe(true);
      expect(await redis.xlen(`${key}:dlq`)).toBe(2 * N);
    } finally {
      subscription.unsubscribe();
      await app.close();
    }
    // Bounded however many were rejected: the bus's first lines of the kind, then one summary with the count.
    const loud = logger.loud();
    expect(loud.length).toBeLessThanOrEqual(10);
    expect(loud.filter((l) => /moved to|dead-letter/.test(l.message))).toEqual([]);
    const summary = loud.filter((l) => /more errors like this/.test(l.message));
    expect(summary).toHaveLength(1);
    const logged = loud.filter((l) => /^event 'order.placed' listener 'subscriber'/.test(l.message)).length;
    expect(logged).toBe(5);
    expect(summary[0]!.message).toMatch(new RegExp(`^${(2 * N - logged).toLocaleString('en-US')} more errors like this`));
  });
});
