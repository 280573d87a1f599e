import { Injectable } from '@nestjs/common';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { DeadLetterService, EventError, OnEvent, type DeliveryMeta } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { deferred, sleep, type BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, pendingCount, rawRedis, until } from '../support/streams-test-app';

/** A TCP proxy to Redis that, once armed, silently swallows the first non-blocking XREADGROUP (a history read) and all later traffic of that link. */
async function historyFreezingProxy(targetPort: number): Promise<{ port: number; arm(): void; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  let armed = false;
  const proxy = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.push(client, upstream);
    let frozen = false;
    client.on('data', (data) => {
      const text = data.toString('latin1');
      if (armed && text.includes('XREADGROUP') && !text.includes('BLOCK')) {
        armed = false;
        frozen = true;
      }
      if (!frozen) upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!frozen) client.write(data);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    arm: () => (armed = true),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

// Review of the redis-streams driver: points of §8 / issue 4 the first suite did not pin, and bugs found.
describe('redis-streams driver: review', () => {
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

  it('unregisterListenersForEvent followed at once (not awaited) by registerListener: the new listener gets the events', async () => {
    const prefix = freshPrefix('rv');
    const app = await boot({}, { url: server.url, prefix, streams: { group: 'svc' } });
    const errors: EventError[] = [];
    app.bus.errors$.subscribe((e) => errors.push(e));
    const before: unknown[] = [];
    const after: unknown[] = [];
    app.bus.registerListener({ eventName: 're.registered', name: 'Projector', onEvent: (e: unknown) => void before.push(e) });
    await until(
      async () => ((await redis.call('XINFO', 'GROUPS', `${prefix}re.registered`).catch(() => [])) as unknown[]).length === 1,
      5000,
      'the group',
    );
    await app.bus.dispatch('re.registered', 'a');
    await until(() => before.length === 1, 5000, 'the first event');
    const removing = app.bus.unregisterListenersForEvent('re.registered');
    app.bus.registerListener({ eventName: 're.registered', name: 'Projector', onEvent: (e: unknown) => void after.push(e) });
    await removing;
    await app.bus.dispatch('re.registered', 'b');
    await until(() => after.length === 1 || errors.length > 0, 5000, 'the event after re-registering');
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(after).toEqual(['b']);
    expect(before).toEqual(['a']);
    await until(async () => (await pendingCount(redis, `${prefix}re.registered`, 'svc:Projector')) === 0, 5000, 'ack');
  });

  it('trims each stream to about maxLen entries (MAXLEN ~)', async () => {
    const prefix = freshPrefix('rv');
    const sender = await boot({}, { url: server.url, prefix, streams: { maxLen: 10 } });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => sender.bus.dispatch('trimmed.event', i)));
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    // Approximate trimming removes whole radix-tree nodes (100 entries by default): far fewer than 1000 remain.
    expect(await redis.xlen(`${prefix}trimmed.event`)).toBeLessThan(300);
    // The default (100 000) keeps them all.
    const other = freshPrefix('rv');
    const untrimmed = await boot({}, { url: server.url, prefix: other });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => untrimmed.bus.dispatch('trimmed.event', i)));
    expect(await redis.xlen(`${other}trimmed.event`)).toBe(1000);
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

  it('replay delivers to the listener that failed and to no other listener of the event; list pages with count and after', async () => {
    const prefix = freshPrefix('rv');
    let broken = true;
    const got: Record<string, Array<{ n: number; attempt: number }>> = { Good: [], Bad: [] };
    @Injectable()
    class Good {
      @OnEvent('paged.event')
      run(e: { n: number }, meta: DeliveryMeta) {
        got.Good.push({ n: e.n, attempt: meta.attempt });
      }
    }
    @Injectable()
    class Bad {
      @OnEvent('paged.event', { async: true })
      async run(e: { n: number }, meta: DeliveryMeta) {
        if (broken) throw new Error(`bad ${e.n}`);
        got.Bad.push({ n: e.n, attempt: meta.attempt });
      }
    }
    const app = await boot({ providers: [Good, Bad] }, { url: server.url, prefix, streams: { group: 'svc', maxAttempts: 1 } });
    for (const n of [1, 2, 3]) await app.bus.dispatch('paged.event', { n });
    const dlq = app.app.get(DeadLetterService);
    await until(async () => (await dlq.count('paged.event')) === 3 && got.Good.length === 3, 10_000, 'three dead letters');
    const all = await dlq.list('paged.event');
    expect(all.map((l) => l.error)).toEqual(['bad 1', 'bad 2', 'bad 3']);
    const page1 = await dlq.list('paged.event', { count: 2 });
    const page2 = await dlq.list('paged.event', { count: 2, after: page1[1].id });
    expect([...page1, ...page2].map((l) => l.id)).toEqual(all.map((l) => l.id));
    expect(page2).toHaveLength(1);

    broken = false;
    await dlq.replay('paged.event', all[1].id);
    expect(got.Bad).toEqual([{ n: 2, attempt: 2 }]);
    await sleep(200);
    expect(got.Good.map((g) => g.n)).toEqual([1, 2, 3]);
    expect((await dlq.list('paged.event')).map((l) => l.id)).toEqual([all[0].id, all[2].id]);
  });
  it('two replays of one dead letter at the same time in one process deliver it once', async () => {
    const prefix = freshPrefix('rv');
    let broken = true;
    const runs: number[] = [];
    @Injectable()
    class Once {
      @OnEvent('replayed.twice')
      async run(_e: unknown, meta: DeliveryMeta) {
        if (broken) throw new Error('broken');
        runs.push(meta.attempt);
        await sleep(50);
      }
    }
    const app = await boot({ providers: [Once] }, { url: server.url, prefix, streams: { group: 'svc', maxAttempts: 1 } });
    await app.bus.dispatch('replayed.twice', 1);
    const dlq = app.app.get(DeadLetterService);
    await until(async () => (await dlq.count('replayed.twice')) === 1, 5000, 'the dead letter');
    const [letter] = await dlq.list('replayed.twice');
    broken = false;
    const outcomes = await Promise.allSettled([dlq.replay('replayed.twice', letter.id), dlq.replay('replayed.twice', letter.id)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(String((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason)).toMatch(/already being replayed/);
    expect(runs).toEqual([2]);
    expect(await dlq.count('replayed.twice')).toBe(0);
  });

  it('DeadLetterService after app.close() rejects instead of opening a connection that would keep the process alive', async () => {
    const prefix = freshPrefix('rv');
    const clients = async (): Promise<number> =>
      String(await redis.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => / name=nestjs-event-bus:streams/.test(line)).length;
    const before = await clients();
    const app = await bootStreamsApp({}, { url: server.url, prefix });
    const dlq = app.app.get(DeadLetterService);
    await app.close();
    await expect(dlq.count('anything')).rejects.toThrow(/closed/);
    await sleep(200);
    expect(await clients()).toBe(before);
  });
  it('unregisterListenersForEvent while a delivery runs (listener with timeoutMs): it finishes, is acknowledged, and is not delivered again', async () => {
    const prefix = freshPrefix('rv');
    const app = await boot({}, { url: server.url, prefix, streams: { group: 'svc' } });
    const gate = deferred();
    const runs: unknown[] = [];
    const make = () => ({
      eventName: 'mid.delivery',
      name: 'Slow',
      options: { timeoutMs: 5000 },
      onEvent: async (e: unknown) => {
        runs.push(e);
        await gate.promise;
      },
    });
    app.bus.registerListener(make());
    const key = `${prefix}mid.delivery`;
    await until(async () => ((await redis.call('XINFO', 'GROUPS', key).catch(() => [])) as unknown[]).length === 1, 5000, 'the group');
    await app.bus.dispatch('mid.delivery', 1);
    await until(() => runs.length === 1, 5000, 'the delivery to start');
    const removing = app.bus.unregisterListenersForEvent('mid.delivery');
    setTimeout(() => gate.resolve(), 100);
    await removing;
    // The running delivery was let finish and acknowledged, not given back for a second run.
    expect(await pendingCount(redis, key, 'svc:Slow')).toBe(0);
    app.bus.registerListener(make());
    await app.bus.dispatch('mid.delivery', 2);
    await until(() => runs.includes(2), 5000, 'the next event');
    await sleep(300);
    expect(runs).toEqual([1, 2]);
  });
  it('a closed app with a retry pending and a reader blocked in a long read lets the process exit by itself (§7)', async () => {
    const fixture = join(process.cwd(), '.build/test/fixtures/streams-close-exit.js');
    expect(existsSync(fixture), `${fixture} is missing: run npm run build && npm run build:apps`).toBe(true);
    const child = spawn(process.execPath, [fixture], {
      env: { ...process.env, REDIS_URL: server.url, PREFIX: freshPrefix('exit') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until(() => out.includes('CLOSED') || child.exitCode !== null, 20_000, 'the fixture to close its app');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    expect({ code, signal: child.signalCode, out }).toEqual({ code: 0, signal: null, out: 'CLOSED\n' });
  });
  it('observe() ended and started again at once on the same event: the new subscription gets the events', async () => {
    const prefix = freshPrefix('rv');
    const app = await boot({}, { url: server.url, prefix, streams: { group: 'svc' } });
    const errors: EventError[] = [];
    app.bus.errors$.subscribe((e) => errors.push(e));
    const first: unknown[] = [];
    const second: unknown[] = [];
    const subscription = app.bus.observe('observed.event').subscribe((e) => first.push(e));
    const key = `${prefix}observed.event`;
    await until(async () => ((await redis.call('XINFO', 'GROUPS', key).catch(() => [])) as unknown[]).length === 1, 5000, 'the group');
    await app.bus.dispatch('observed.event', 'a');
    await until(() => first.length === 1, 5000, 'the first event');
    subscription.unsubscribe();
    const again = app.bus.observe('observed.event').subscribe((e) => second.push(e));
    try {
      await sleep(300);
      await app.bus.dispatch('observed.event', 'b');
      await until(() => second.length === 1 || errors.length > 0, 5000, 'the event for the new subscription');
      expect(errors.map((e) => e.message)).toEqual([]);
      expect({ first, second }).toEqual({ first: ['a'], second: ['b'] });
    } finally {
      again.unsubscribe();
    }
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
  it('a re-read of its own pending entries that never answers (half-open connection) is noticed; reading resumes', async () => {
    const proxy = await historyFreezingProxy(server.port);
    try {
      const prefix = freshPrefix('rv');
      const seen: unknown[] = [];
      @Injectable()
      class Reader {
        @OnEvent('history.frozen')
        run(e: unknown) {
          seen.push(e);
        }
      }
      const app = await boot(
        { providers: [Reader] },
        { url: `redis://127.0.0.1:${proxy.port}`, prefix, streams: { group: 'svc', blockMs: 200 } },
      );
      await app.bus.dispatch('history.frozen', 'before');
      await until(() => seen.length === 1, 5000, 'the first event');
      // The reader reconnects and first re-reads its own pending entries: that read gets no answer.
      proxy.arm();
      const list = String(await redis.call('CLIENT', 'LIST'));
      for (const line of list.split('\n').filter((l) => l.includes(`name=nestjs-event-bus:streams-reader:svc:Reader.run`))) {
        await redis.call('CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(line)![1]);
      }
      await app.bus.dispatch('history.frozen', 'after');
      await until(() => seen.length === 2, 20_000, 'the event after the frozen re-read');
      expect(seen).toEqual(['before', 'after']);
    } finally {
      await proxy.close();
    }
  }, 30_000);
});
