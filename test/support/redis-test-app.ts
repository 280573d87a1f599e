import type { Provider, Type } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import Redis, { type RedisOptions } from 'ioredis';
import { EventBus, EventBusModule, type EventError, type RedisDriverOptions } from 'nestjs-event-bus';
import type { EventBusModuleOptions } from 'nestjs-event-bus';

/** One Nest application on the redis driver, with what its bus reported. */
export interface RedisTestApp {
  readonly app: TestingModule;
  readonly bus: EventBus;
  readonly errors: EventError[];
  get<T>(type: Type<T>): T;
  close(): Promise<void>;
}

/** Boots a Nest app (listeners in `providers`) on the redis driver; every test app is its own bus. */
export async function startRedisApp(
  redis: RedisDriverOptions,
  providers: Provider[] = [],
  extra: Omit<EventBusModuleOptions, 'driver' | 'redis'> = {},
): Promise<RedisTestApp> {
  @Module({ imports: [EventBusModule.forRoot({ driver: 'redis', redis, ...extra })], providers })
  class RedisTestModule {}
  const app = await Test.createTestingModule({ imports: [RedisTestModule] }).compile();
  try {
    await app.init();
  } catch (err) {
    await app.close().catch(() => undefined);
    throw err;
  }
  const bus = app.get(EventBus);
  const errors: EventError[] = [];
  bus.errors$.subscribe((error) => errors.push(error));
  let closed: Promise<void> | undefined;
  return {
    app,
    bus,
    errors,
    get: (type) => app.get(type),
    close: () => (closed ??= app.close()),
  };
}

/** Polls until `check` is true (or throws with `what` after `timeoutMs`). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A plain ioredis client for the test's own commands (PUBSUB, raw PUBLISH / SUBSCRIBE). */
export function rawClient(url: string, options: RedisOptions = {}): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50, ...options });
  client.on('error', () => undefined); // reconnects are part of the outage tests
  return client;
}

/** Raw messages received on a channel or pattern by a plain client. */
export async function rawSubscriber(url: string, channel: string): Promise<{ messages: string[]; client: Redis }> {
  const client = rawClient(url);
  const messages: string[] = [];
  client.on('message', (ch: string, message: string) => {
    if (ch === channel) messages.push(message);
  });
  await client.subscribe(channel);
  return { messages, client };
}
