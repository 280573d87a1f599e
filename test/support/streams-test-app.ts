import type { ModuleMetadata } from '@nestjs/common';
import Redis from 'ioredis';
import type { EventBusModuleOptions, RedisDriverOptions, StreamsDriverOptions } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { bootApp, type BootedApp } from './boot-app';
import { RedisServer } from './redis-server';

let prefixes = 0;

/** A key prefix of its own for each test, so tests sharing one redis-server never see each other's streams. */
export function freshPrefix(label = 't'): string {
  return `${label}${process.pid}-${++prefixes}:`;
}

export interface StreamsAppOptions {
  url: string;
  prefix: string;
  streams?: StreamsDriverOptions;
  redis?: Partial<RedisDriverOptions>;
  shutdownTimeoutMs?: number;
}

/** A Nest app on the redis-streams driver (small claim/block times so tests run quickly). */
export function bootStreamsApp(metadata: ModuleMetadata, options: StreamsAppOptions): Promise<BootedApp> {
  const config: EventBusModuleOptions = {
    driver: 'redis-streams',
    redis: { url: options.url, channelPrefix: options.prefix, ...options.redis },
    streams: { blockMs: 200, ...options.streams },
    ...(options.shutdownTimeoutMs !== undefined ? { shutdownTimeoutMs: options.shutdownTimeoutMs } : {}),
  };
  return bootApp(metadata, config);
}

/** A plain client for inspecting and tampering with streams. */
export function rawRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: 2 });
}

/** Polls `check` until it is truthy (or fails the test after `timeoutMs`). */
export async function until<T>(check: () => T | Promise<T>, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** `XPENDING key group` summary count. */
export async function pendingCount(redis: Redis, key: string, group: string): Promise<number> {
  const summary = (await redis.call('XPENDING', key, group)) as unknown[];
  return Number(summary[0]);
}

/** What `useStreamsServer()` gives a spec: its own redis-server, a raw client on it, and a `boot` whose apps close after each test. */
export interface StreamsServerFixture {
  readonly server: RedisServer;
  readonly redis: Redis;
  boot(...args: Parameters<typeof bootStreamsApp>): Promise<BootedApp>;
}

/** Starts a redis-server for the spec file (stopped by pid after it), and closes each test's apps after the test. */
export function useStreamsServer(): StreamsServerFixture {
  let server: RedisServer | undefined;
  let redis: Redis | undefined;
  const apps: BootedApp[] = [];
  beforeAll(async () => {
    server = await RedisServer.start();
    redis = rawRedis(server.url);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.destroy();
  });
  return {
    get server() {
      return server!;
    },
    get redis() {
      return redis!;
    },
    boot: async (...args) => {
      const app = await bootStreamsApp(...args);
      apps.push(app);
      return app;
    },
  };
}
