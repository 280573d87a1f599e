import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { DeadLetterService, EventError, OnEvent, type BackoffOptions, type DeliveryMeta } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay, backoffSchedule } from '../../lib/delivery/backoff';
import { bootApp, deferred, sleep, type BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, pendingCount, rawRedis, until } from '../support/streams-test-app';

/** How redis-streams counts attempts across replicas and waits between redeliveries. */
describe('redis-streams redelivery: attempts, retry.attempts, backoff', () => {
  let server: RedisServer;
  let redis: Redis;
  const apps: BootedApp[] = [];
  const boot = async (...args: Parameters<typeof bootStreamsApp>): Promise<BootedApp> => {
    const app = await bootStreamsApp(...args);
    apps.push(app);
    return app;
  };

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

  it('entries of a batch a stopping consumer never started keep their attempt: the next replica runs them as attempt 1, even with retry.attempts 1', async () => {
    const prefix = freshPrefix('rv');
    const gate = deferred();
    const seen: Array<{ by: string; n: unknown; attempt: number }> = [];
    const make = (by: string) => {
      @Injectable()
      class Worker {
        @OnEvent('batch.job', { retry: { attempts: 1 } })
        async run(n: unknown, meta: DeliveryMeta) {
          seen.push({ by, n, attempt: meta.attempt });
          if (by === 'first') await gate.promise;
        }
      }
      return Worker;
    };
    // Three entries wait in the stream, so the first replica reads them in one batch.
    const sender = await boot({}, { url: server.url, prefix });
    for (const n of [1, 2, 3]) expect((await sender.bus.dispatch('batch.job', n)).errors).toEqual([]);
    const streams = { group: 'svc', startFrom: 'beginning' as const, claimIdleMs: 300 };
    const first = await bootStreamsApp({ providers: [make('first')] }, { url: server.url, prefix, streams });
    await until(() => seen.length === 1, 5000, 'the first entry');
    const key = `${prefix}batch.job`;
    expect(await pendingCount(redis, key, 'svc:Worker.run')).toBe(3);
    const closing = first.close();
    setTimeout(() => gate.resolve(), 100);
    await closing;
    // The one it ran is acknowledged; the two it never started are left for another replica.
    expect(seen).toEqual([{ by: 'first', n: 1, attempt: 1 }]);
    expect(await pendingCount(redis, key, 'svc:Worker.run')).toBe(2);

    const second = await boot({ providers: [make('second')] }, { url: server.url, prefix, streams });
    const dlq = second.app.get(DeadLetterService);
    await until(async () => seen.length >= 3 || (await dlq.count('batch.job')) > 0, 10_000, 'the two entries to be reclaimed');
    // Reclaimed at start-up, then the consumer's own pending list is read: each must still run once.
    await sleep(500);
    expect(await dlq.count('batch.job')).toBe(0);
    expect(seen.slice(1)).toEqual([
      { by: 'second', n: 2, attempt: 1 },
      { by: 'second', n: 3, attempt: 1 },
    ]);
    await until(async () => (await pendingCount(redis, key, 'svc:Worker.run')) === 0, 5000, 'acks');
  });

  it("a listener's retry.attempts overrides streams.maxAttempts (lower and higher)", async () => {
    const prefix = freshPrefix('rv');
    const calls: Record<string, number[]> = { Few: [], Many: [] };
    @Injectable()
    class Few {
      @OnEvent('always.fails', { retry: { attempts: 2, backoff: { baseMs: 10 } } })
      run(_e: unknown, meta: DeliveryMeta) {
        calls.Few.push(meta.attempt);
        throw new Error('few');
      }
    }
    @Injectable()
    class Many {
      @OnEvent('always.fails', { retry: { attempts: 4, backoff: { baseMs: 10 } } })
      run(_e: unknown, meta: DeliveryMeta) {
        calls.Many.push(meta.attempt);
        throw new Error('many');
      }
    }
    const app = await boot({ providers: [Few, Many] }, { url: server.url, prefix, streams: { group: 'svc', maxAttempts: 3 } });
    await app.bus.dispatch('always.fails', 1);
    const dlq = app.app.get(DeadLetterService);
    await until(async () => (await dlq.count('always.fails')) === 2, 10_000, 'two dead letters');
    const letters = await dlq.list('always.fails');
    expect(Object.fromEntries(letters.map((l) => [l.listener, l.attempts]))).toEqual({ 'Few.run': 2, 'Many.run': 4 });
    expect(calls).toEqual({ Few: [1, 2], Many: [1, 2, 3, 4] });
  });

  it('an entry whose last attempt never finished (its consumer stopped) is dead-lettered when reclaimed, without running it again', async () => {
    const prefix = freshPrefix('rv');
    const seen: string[] = [];
    const make = (by: string, hang: boolean) => {
      @Injectable()
      class Crasher {
        @OnEvent('crashes.consumer')
        run() {
          seen.push(by);
          return hang ? new Promise(() => undefined) : undefined;
        }
      }
      return Crasher;
    };
    const streams = { group: 'svc', maxAttempts: 1, claimIdleMs: 300 };
    const stuck = await bootStreamsApp({ providers: [make('stuck', true)] }, { url: server.url, prefix, streams, shutdownTimeoutMs: 100 });
    await stuck.bus.dispatch('crashes.consumer', 1);
    await until(() => seen.length === 1, 5000, 'the first attempt');
    await stuck.close();
    const healthy = await boot({ providers: [make('healthy', false)] }, { url: server.url, prefix, streams });
    const errors: EventError[] = [];
    healthy.bus.errors$.subscribe((e) => errors.push(e));
    const dlq = healthy.app.get(DeadLetterService);
    await until(async () => (await dlq.count('crashes.consumer')) === 1, 10_000, 'the dead letter');
    const [letter] = await dlq.list('crashes.consumer');
    expect(letter).toMatchObject({ listener: 'Crasher.run', attempts: 1, error: expect.stringMatching(/never finished/) });
    expect(seen).toEqual(['stuck']);
    expect(errors.map((e) => e.listener)).toEqual(['Crasher.run']);
    expect(await pendingCount(redis, `${prefix}crashes.consumer`, 'svc:Crasher.run')).toBe(0);
  });

  it("waits the listener's retry.backoff between redeliveries (baseMs * factor^(n-1))", async () => {
    const prefix = freshPrefix('rv');
    const at: number[] = [];
    @Injectable()
    class Backoff {
      @OnEvent('backs.off', { retry: { attempts: 3, backoff: { baseMs: 300, factor: 2 } } })
      run() {
        at.push(Date.now());
        if (at.length < 3) throw new Error('not yet');
      }
    }
    const app = await boot({ providers: [Backoff] }, { url: server.url, prefix, streams: { group: 'svc' } });
    await app.bus.dispatch('backs.off', 1);
    await until(() => at.length === 3, 10_000, 'the third attempt');
    // Lower bounds only (timers never fire early); the default backoff (100 ms, 200 ms) would fail both.
    expect(at[1] - at[0]).toBeGreaterThanOrEqual(290);
    expect(at[2] - at[1]).toBeGreaterThanOrEqual(590);
  });
});

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
