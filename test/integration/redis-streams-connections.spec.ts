import type Redis from 'ioredis';
import type { EventError } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep, type BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, rawRedis, until } from '../support/streams-test-app';

/** The connections an app's redis-streams driver holds open (named nestjs-event-bus:streams*). */
async function driverConnections(redis: Redis): Promise<string[]> {
  return String(await redis.call('CLIENT', 'LIST'))
    .split('\n')
    .map((line) => / name=(nestjs-event-bus:streams\S*)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
}

/** Every group of `stream` exists (listeners are subscribed). */
async function groupsOf(redis: Redis, stream: string): Promise<number> {
  return ((await redis.call('XINFO', 'GROUPS', stream).catch(() => [])) as unknown[]).length;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/**
 * How many connections a replica opens, whatever its listeners: every consumer group reads on the
 * same three connections, and none of that costs a listener an event, or a quiet listener its latency.
 */
describe('redis-streams connections: a constant number per app, however many listeners', () => {
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

  it('opens the same four connections with 1, 10 and 60 listeners (one per event name), and every listener gets its event', async () => {
    const counts: number[] = [];
    for (const listeners of [1, 10, 60]) {
      const prefix = freshPrefix('conn');
      const app = await boot({}, { url: server.url, prefix, streams: { group: 'svc' } });
      const seen = new Map<string, unknown[]>();
      for (let i = 0; i < listeners; i++) {
        const name = `conn.event${i}`;
        seen.set(name, []);
        app.bus.registerListener({ eventName: name, name: `Listener${i}`, onEvent: (e: unknown) => void seen.get(name)!.push(e) });
      }
      await until(
        async () => (await Promise.all([...seen.keys()].map((name) => groupsOf(redis, prefix + name)))).every((n) => n === 1),
        10_000,
        `the groups of ${listeners} listeners`,
      );
      for (const name of seen.keys()) await app.bus.dispatch(name, name);
      await until(() => [...seen].every(([name, events]) => events.length === 1 && events[0] === name), 10_000, 'every event');
      const names = await driverConnections(redis);
      counts.push(names.length);
      expect(names.sort()).toEqual([
        'nestjs-event-bus:streams',
        'nestjs-event-bus:streams-reader',
        'nestjs-event-bus:streams-reader-bulk',
        'nestjs-event-bus:streams-reader-wake',
      ]);
      await apps.pop()!.close();
      await until(async () => (await driverConnections(redis)).length === 0, 5000, 'the connections to close');
    }
    expect(counts).toEqual([4, 4, 4]);
  });

  it('60 listeners on 10 event names each handle every event of their name exactly once', async () => {
    const prefix = freshPrefix('once');
    const app = await boot({}, { url: server.url, prefix, streams: { group: 'svc' } });
    const sender = await boot({}, { url: server.url, prefix });
    const errors: EventError[] = [];
    app.bus.errors$.subscribe((e) => errors.push(e));
    const names = Array.from({ length: 10 }, (_, i) => `once.event${i}`);
    const seen: Array<Map<number, number>> = [];
    for (let i = 0; i < 60; i++) {
      const counts = new Map<number, number>();
      seen.push(counts);
      const eventName = names[i % names.length];
      app.bus.registerListener({
        eventName,
        name: `Listener${i}`,
        // Some listeners are async and slow, so reads of different groups overlap.
        ...(i % 3 === 0 ? { options: { async: true } } : {}),
        onEvent: async (e: { n: number; name: string }) => {
          expect(e.name).toBe(eventName);
          counts.set(e.n, (counts.get(e.n) ?? 0) + 1);
          if (i % 3 === 0) await sleep(1);
        },
      });
    }
    await until(
      async () => (await Promise.all(names.map((name) => groupsOf(redis, prefix + name)))).every((n) => n === 6),
      10_000,
      'the groups',
    );
    const perName = 300;
    const handles = [];
    for (let n = 0; n < perName; n++) for (const name of names) handles.push(sender.bus.dispatch(name, { n, name }));
    const results = await Promise.all(handles);
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    await until(() => seen.every((counts) => counts.size === perName), 30_000, 'every listener to have every event of its name');
    // Redeliveries would show up late: give them time.
    await sleep(500);
    for (const counts of seen) {
      expect(counts.size).toBe(perName);
      expect([...counts.values()].every((c) => c === 1)).toBe(true);
    }
    expect(errors).toEqual([]);
  }, 60_000);

  it("a quiet listener's events arrive in milliseconds while 59 other listeners are flooded", async () => {
    const prefix = freshPrefix('quiet');
    const app = await boot({}, { url: server.url, prefix, streams: { group: 'svc' } });
    const sender = await boot({}, { url: server.url, prefix });
    const floodNames = Array.from({ length: 9 }, (_, i) => `flood.event${i}`);
    let flooded = 0;
    for (let i = 0; i < 59; i++) {
      // Busy, not CPU-bound: each event takes a few milliseconds (an I/O-bound listener with a backlog).
      app.bus.registerListener({
        eventName: floodNames[i % floodNames.length],
        name: `Flooded${i}`,
        onEvent: async () => {
          flooded++;
          await sleep(5);
        },
      });
    }
    let arrived: ((at: number) => void) | undefined;
    app.bus.registerListener({ eventName: 'quiet.ping', name: 'Quiet', onEvent: () => arrived?.(performance.now()) });
    await until(async () => (await groupsOf(redis, `${prefix}quiet.ping`)) === 1, 10_000, 'the quiet group');
    await until(
      async () => (await Promise.all(floodNames.map((n) => groupsOf(redis, prefix + n)))).every((n) => n > 0),
      10_000,
      'the groups',
    );

    // The flood: a backlog of 2000 entries on every flooded stream (each read by 6 or 7 groups),
    // dispatched before the measurement so the sender is idle while the quiet listener is measured.
    const perName = 2000;
    const backlog = [];
    for (let n = 0; n < perName; n++) for (const name of floodNames) backlog.push(sender.bus.dispatch(name, n));
    expect((await Promise.all(backlog)).every((r) => r.errors.length === 0)).toBe(true);
    await until(() => flooded > 1000, 20_000, 'the flood to be under way');

    const latencies: number[] = [];
    const floodedBefore = flooded;
    for (let i = 0; i < 30; i++) {
      const got = new Promise<number>((resolve) => (arrived = resolve));
      const sent = performance.now();
      await sender.bus.dispatch('quiet.ping', i);
      latencies.push((await got) - sent);
      await sleep(10);
    }
    const floodedDuring = flooded - floodedBefore;
    const backlogAtEnd = perName * 59 - flooded;
    const p50 = percentile(latencies, 50);
    expect(floodedDuring, 'the flood went on while the quiet listener was measured').toBeGreaterThan(1000);
    expect(backlogAtEnd, 'the flooded listeners still had a backlog when the measurement ended').toBeGreaterThan(1000);
    expect(p50, `quiet listener latencies (ms): ${latencies.map((l) => l.toFixed(1)).join(', ')}`).toBeLessThan(50);
  }, 60_000);
});
