import type Redis from 'ioredis';
import type { BackoffOptions } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay, backoffSchedule } from '../../lib/delivery/backoff';
import { bootApp, type BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, rawRedis, until } from '../support/streams-test-app';

/**
 * One backoff: a listener's `retry.backoff` waits the same in process (memory, redis pub/sub) and
 * between redis-streams redeliveries. Both paths report each wait on `retries$` before they wait.
 */
describe('retry backoff: in-process retries and redis-streams redeliveries wait one schedule', () => {
  let server: RedisServer;
  let redis: Redis;
  // Closing does not wait out a pending 20 s retry: the short shutdownTimeoutMs ends it.
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

  /** Registers a listener that always fails; returns the waits the bus reports before each retry. */
  function reportedDelays(app: BootedApp, eventName: string, backoff: BackoffOptions, attempts: number): number[] {
    const delays: number[] = [];
    app.bus.retries$.subscribe((r) => delays.push(r.delayMs));
    app.bus.registerListener({
      eventName,
      name: 'AlwaysFails',
      options: { retry: { attempts, backoff } },
      onEvent: () => {
        throw new Error('fails on purpose');
      },
    });
    return delays;
  }

  it('the same waits attempt after attempt (growing, capped at maxMs)', async () => {
    const backoff = { baseMs: 40, factor: 3, maxMs: 200 };
    const expected = [1, 2, 3].map((n) => backoffDelay(backoffSchedule(backoff), n));
    expect(expected).toEqual([40, 120, 200]);

    const memory = await bootApp({}, { shutdownTimeoutMs: 300 });
    apps.push(memory);
    const inProcess = reportedDelays(memory, 'pinned.grow', backoff, 4);
    void memory.bus.dispatch('pinned.grow', {});
    await until(() => inProcess.length === 3, 5000, 'three in-process retries');

    const prefix = freshPrefix('bo');
    const streams = await bootStreamsApp({}, { url: server.url, prefix, streams: { group: 'svc' }, shutdownTimeoutMs: 300 });
    apps.push(streams);
    const redelivered = reportedDelays(streams, 'pinned.grow', backoff, 4);
    await until(
      async () => ((await redis.call('XINFO', 'GROUPS', `${prefix}pinned.grow`).catch(() => [])) as unknown[]).length === 1,
      5000,
      'the consumer group',
    );
    await streams.bus.dispatch('pinned.grow', {});
    await until(() => redelivered.length === 3, 5000, 'three redeliveries');

    expect(inProcess).toEqual(expected);
    expect(redelivered).toEqual(expected);
  });

  it('a baseMs above the default maxMs: both wait baseMs (20 s), not the default cap (10 s)', async () => {
    const backoff = { baseMs: 20_000 };
    const memory = await bootApp({}, { shutdownTimeoutMs: 300 });
    apps.push(memory);
    const inProcess = reportedDelays(memory, 'pinned.long', backoff, 3);
    void memory.bus.dispatch('pinned.long', {});
    await until(() => inProcess.length === 1, 5000, 'the in-process retry');

    const prefix = freshPrefix('bo');
    const streams = await bootStreamsApp({}, { url: server.url, prefix, streams: { group: 'svc' }, shutdownTimeoutMs: 300 });
    apps.push(streams);
    const redelivered = reportedDelays(streams, 'pinned.long', backoff, 3);
    await until(
      async () => ((await redis.call('XINFO', 'GROUPS', `${prefix}pinned.long`).catch(() => [])) as unknown[]).length === 1,
      5000,
      'the consumer group',
    );
    await streams.bus.dispatch('pinned.long', {});
    await until(() => redelivered.length === 1, 5000, 'the first redelivery to be scheduled');

    expect(inProcess).toEqual([20_000]);
    expect(redelivered).toEqual([20_000]);
  });
});
