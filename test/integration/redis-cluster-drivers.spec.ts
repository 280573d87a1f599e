import { Injectable } from '@nestjs/common';
import { Cluster } from 'ioredis';
import {
  DeadLetterService,
  DriverUnavailableError,
  InvalidOptionsError,
  OnEvent,
  type DispatchHandle,
  type EventBus,
} from 'nestjs-event-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, sleep, type BootedApp } from '../support/boot-app';
import { parseInfo, redisCli } from '../support/redis-cli';
import { RedisCluster } from '../support/redis-cluster';
import { until } from '../support/streams-test-app';

/**
 * Both redis drivers on a real Redis Cluster (3 masters, 3 replicas, started once for this file):
 * through `redis.cluster` and through a Cluster client of the user's; classic and sharded pub/sub;
 * hash-tagged streams spread over the masters; dead letters on a cluster; a master killed while
 * dispatching.
 */
describe('redis drivers on a Redis Cluster', () => {
  let cluster: RedisCluster;
  const apps: BootedApp[] = [];
  const clients: Cluster[] = [];

  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close().catch(() => undefined)));
    for (const client of clients) client.disconnect();
    await cluster?.destroy();
  });

  const userCluster = async (options: ConstructorParameters<typeof Cluster>[1] = {}): Promise<Cluster> => {
    const client = new Cluster(cluster.startupNodes, options);
    client.on('error', () => undefined); // nodes are killed in this file
    clients.push(client);
    await new Promise<void>((resolve) => client.once('ready', () => resolve()));
    return client;
  };
  const boot = async (...args: Parameters<typeof bootApp>): Promise<BootedApp> => {
    const app = await bootApp(...args);
    apps.push(app);
    return app;
  };
  const names = (label: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${label}.${i}`);
  /** Masters that own at least one of `keys`. */
  const mastersOf = async (keys: string[]): Promise<Set<number>> =>
    new Set(await Promise.all(keys.map(async (key) => (await cluster.masterOfKey(key)).port)));

  describe('driver redis', () => {
    it('classic pub/sub through redis.cluster: another app and a raw SUBSCRIBE both get the event', async () => {
      const got: unknown[] = [];
      @Injectable()
      class Listener {
        @OnEvent('cluster.classic')
        on(event: unknown): void {
          got.push(event);
        }
      }
      const redis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'cc:' };
      await boot({ providers: [Listener] }, { driver: 'redis', redis });
      const sender = await boot({}, { driver: 'redis', redis });
      const raw = await userCluster();
      const rawGot: string[] = [];
      raw.on('message', (channel: string, message: string) => rawGot.push(`${channel} ${message}`));
      await raw.subscribe('cc:cluster.classic');
      const result = await sender.bus.dispatch('cluster.classic', { n: 1 });
      expect(result.errors).toEqual([]);
      await until(() => got.length === 1 && rawGot.length === 1, 5000, 'the event on both subscribers');
      expect(got).toEqual([{ n: 1 }]);
      expect(rawGot[0]).toMatch(/^cc:cluster\.classic \{/);
    });

    it('sharded pub/sub through a user Cluster client: SSUBSCRIBE sees it, events of many names reach the listener, the client survives app.close()', async () => {
      const eventNames = names('sharded', 12);
      const got = new Map<string, number>();
      @Injectable()
      class Listener {
        @OnEvent(eventNames)
        on(event: { name: string }): void {
          got.set(event.name, (got.get(event.name) ?? 0) + 1);
        }
      }
      const client = await userCluster();
      const redis = { client, channelPrefix: 'sh:', sharded: true };
      const receiver = await bootApp({ providers: [Listener] }, { driver: 'redis', redis });
      const sender = await bootApp({}, { driver: 'redis', redis });
      const raw = await userCluster({ shardedSubscribers: true });
      const rawGot: string[] = [];
      raw.on('smessage', (channel: string) => rawGot.push(channel));
      await raw.ssubscribe('sh:sharded.0');
      // A classic subscriber does not hear sharded pub/sub (two separate spaces).
      const classic = await userCluster();
      const classicGot: string[] = [];
      classic.on('message', (channel: string) => classicGot.push(channel));
      await classic.subscribe('sh:sharded.0');
      // The channels live on several shards.
      expect((await mastersOf(eventNames.map((name) => `sh:${name}`))).size).toBeGreaterThan(1);
      const handles = eventNames.map((name) => sender.bus.dispatch(name, { name }));
      for (const result of await Promise.all(handles)) expect(result.errors).toEqual([]);
      await until(() => eventNames.every((name) => got.get(name) === 1) && rawGot.length === 1, 5000, 'every sharded event');
      await sleep(200);
      expect(classicGot).toEqual([]);
      expect([...got.values()].every((count) => count === 1)).toBe(true);
      await receiver.close();
      await sender.close();
      expect(client.status).toBe('ready');
      expect(await client.set('sh:after-close', '1')).toBe('OK');
    });

    it('a wildcard listener with sharded: true fails start-up and says why', async () => {
      @Injectable()
      class Wildcard {
        @OnEvent('user.*')
        on(): void {}
      }
      const failure = await bootApp(
        { providers: [Wildcard] },
        { driver: 'redis', redis: { cluster: { nodes: cluster.startupNodes }, sharded: true } },
      ).then(
        (app) => {
          apps.push(app);
          return undefined;
        },
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(InvalidOptionsError);
      expect(String(failure)).toMatch(/redis\.sharded.*wildcard listener on 'user\.\*'/);
    });
  });

  describe('driver redis-streams', () => {
    it('two replicas of a group handle each event once; streams are hash-tagged and spread over the masters', async () => {
      const eventNames = names('orders', 12);
      const handled = new Map<string, number>();
      const perReplica = [0, 0];
      const makeListener = (replica: number) => {
        @Injectable()
        class Worker {
          @OnEvent(eventNames)
          on(event: { key: string }): void {
            handled.set(event.key, (handled.get(event.key) ?? 0) + 1);
            perReplica[replica]++;
          }
        }
        return Worker;
      };
      const redis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'st:' };
      const streams = { group: 'billing', blockMs: 200 };
      await boot({ providers: [makeListener(0)] }, { driver: 'redis-streams', redis, streams });
      const second = await boot({ providers: [makeListener(1)] }, { driver: 'redis-streams', redis, streams });
      const total = 240;
      const handles: DispatchHandle[] = [];
      for (let i = 0; i < total; i++) handles.push(second.bus.dispatch(eventNames[i % eventNames.length], { key: `k${i}` }));
      for (const result of await Promise.all(handles)) expect(result.errors).toEqual([]);
      await until(() => handled.size === total, 15_000, 'every event handled');
      await sleep(300);
      expect([...handled.values()].every((count) => count === 1)).toBe(true);
      expect(perReplica[0] + perReplica[1]).toBe(total);
      const raw = await userCluster();
      const keys = eventNames.map((name) => `st:{${name}}`);
      for (const key of keys) expect(Number(await raw.xlen(key))).toBe(total / eventNames.length);
      expect(Number(await raw.exists('st:orders.0'))).toBe(0);
      expect((await mastersOf(keys)).size).toBe(3);
    });

    it('poison → dead letter → replay on the cluster, through a user Cluster client that survives app.close()', async () => {
      let failing = true;
      const seen: number[] = [];
      @Injectable()
      class Fragile {
        @OnEvent('payment.taken')
        on(event: { n: number }): void {
          if (failing) throw new Error('poison');
          seen.push(event.n);
        }
      }
      const client = await userCluster();
      const app = await bootApp(
        { providers: [Fragile] },
        { driver: 'redis-streams', redis: { client, channelPrefix: 'dl:' }, streams: { group: 'svc', blockMs: 200, maxAttempts: 2 } },
      );
      const result = await app.bus.dispatch('payment.taken', { n: 7 });
      expect(result.errors).toEqual([]);
      const dlq = app.app.get(DeadLetterService);
      await until(async () => (await dlq.count('payment.taken')) === 1, 15_000, 'the dead letter');
      expect(Number(await client.xlen('dl:{payment.taken}:dlq'))).toBe(1);
      expect(await cluster.slotOf('dl:{payment.taken}:dlq')).toBe(await cluster.slotOf('dl:{payment.taken}'));
      const [letter] = await dlq.list('payment.taken');
      expect(letter.attempts).toBe(2);
      failing = false;
      await dlq.replay('payment.taken', letter.id);
      await until(() => seen.length === 1, 5000, 'the replayed event');
      expect(seen).toEqual([7]);
      expect(await dlq.count('payment.taken')).toBe(0);
      await app.close();
      expect(client.status).toBe('ready');
      expect(Number(await client.xlen('dl:{payment.taken}'))).toBe(1);
    });
  });

  describe('redis-streams connections on a cluster', () => {
    /** The client connections each master holds, by name (all of them: ioredis's own are counted too; not redis-cli's). */
    const connectionsByMaster = async (): Promise<Map<number, string[]>> => {
      const out = new Map<number, string[]>();
      for (const master of await cluster.masters()) {
        const list = await redisCli(master.port, 'CLIENT', 'LIST');
        const names = list
          .split('\n')
          .filter((line) => !line.includes('cmd=client|list'))
          .map((line) => / name=(\S*)/.exec(line)?.[1])
          .filter((name): name is string => name !== undefined);
        out.set(master.port, names.sort());
      }
      return out;
    };
    /** What the app added to each master: `after` minus `before`, name by name. */
    const added = (before: Map<number, string[]>, after: Map<number, string[]>): Map<number, string[]> => {
      const out = new Map<number, string[]>();
      for (const [port, names] of after) {
        const left = [...(before.get(port) ?? [])];
        out.set(
          port,
          names.filter((name) => {
            const i = left.indexOf(name);
            if (i === -1) return true;
            left.splice(i, 1);
            return false;
          }),
        );
      }
      return out;
    };

    it('at most four per master it reads from, the same with 1, 10 and 60 listeners; 60 listeners each handle every event once', async () => {
      const eventNames = names('conn', 10);
      expect((await mastersOf(eventNames.map((name) => `cn:{${name}}`))).size).toBe(3);
      const perRound: Array<Map<number, string[]>> = [];
      for (const listeners of [1, 10, 60]) {
        const prefix = `cn${listeners}:`;
        const redis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: prefix };
        const sender = await boot({}, { driver: 'redis-streams', redis });
        const before = await connectionsByMaster();
        const app = await bootApp({}, { driver: 'redis-streams', redis, streams: { group: 'conn', blockMs: 500 } });
        const errors: unknown[] = [];
        app.bus.errors$.subscribe((error) => errors.push(error));
        const seen: Array<Map<number, number>> = [];
        const expected: string[][] = [];
        for (let i = 0; i < listeners; i++) {
          // One listener: all ten names; otherwise each listener one name, every name covered.
          const mine = listeners === 1 ? eventNames : [eventNames[i % eventNames.length]];
          const counts = new Map<number, number>();
          seen.push(counts);
          expected.push(mine);
          app.bus.registerListener({
            eventName: mine,
            name: `Listener${i}`,
            ...(i % 3 === 0 ? { options: { async: true } } : {}),
            onEvent: (event: { n: number; name: string }) => {
              expect(mine).toContain(event.name);
              counts.set(event.n, (counts.get(event.n) ?? 0) + 1);
            },
          });
        }
        const groups = async (name: string): Promise<number> => {
          const key = `${prefix}{${name}}`;
          const reply = await redisCli((await cluster.masterOfKey(key)).port, 'XINFO', 'GROUPS', key);
          return reply.split('\n').filter((line) => line === 'name').length;
        };
        const perName = listeners === 1 ? 1 : listeners / eventNames.length;
        await until(async () => (await Promise.all(eventNames.map(groups))).every((n) => n === perName), 15_000, 'the groups');
        const perEvent = 20;
        const handles: DispatchHandle[] = [];
        let n = 0;
        for (let k = 0; k < perEvent; k++) for (const name of eventNames) handles.push(sender.bus.dispatch(name, { n: n++, name }));
        for (const result of await Promise.all(handles)) expect(result.errors).toEqual([]);
        const want = (i: number): number => expected[i].length * perEvent;
        await until(() => seen.every((counts, i) => counts.size === want(i)), 30_000, `every listener of ${listeners} to have its events`);
        await sleep(300);
        seen.forEach((counts, i) => {
          expect(counts.size).toBe(want(i));
          expect([...counts.values()].every((count) => count === 1)).toBe(true);
        });
        expect(errors).toEqual([]);
        const mine = added(before, await connectionsByMaster());
        console.log(`[cluster connections, ${listeners} listener(s)] ${JSON.stringify(Object.fromEntries(mine))}`);
        perRound.push(mine);
        for (const names of mine.values()) expect(names.length).toBeLessThanOrEqual(4);
        await app.close();
      }
      const counts = perRound.map((round) => [...round.values()].map((names) => names.length));
      expect(counts[1]).toEqual(counts[0]);
      expect(counts[2]).toEqual(counts[0]);
      // It reads from every master (the names spread over all three).
      expect(counts[0].every((count) => count >= 3)).toBe(true);
    }, 120_000);
  });

  it("redis-streams wake-ups on a cluster come from the master's key invalidations, also after the reading connections were killed", async () => {
    const got: number[] = [];
    const at: number[] = [];
    @Injectable()
    class Idle {
      @OnEvent('wake.event')
      on(event: { n: number }): void {
        got.push(event.n);
        at.push(Date.now());
      }
    }
    const redis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'wk:' };
    // A long blockMs: the once-per-blockMs safety-net read cannot be what delivers in time.
    await boot({ providers: [Idle] }, { driver: 'redis-streams', redis, streams: { group: 'wk', blockMs: 20_000 } });
    const sender = await boot({}, { driver: 'redis-streams', redis });
    await sleep(500);
    const deliveredWithin = async (n: number): Promise<number> => {
      const started = Date.now();
      expect((await sender.bus.dispatch('wake.event', { n })).errors).toEqual([]);
      await until(() => got.includes(n), 10_000, `event ${n}`);
      return at[got.indexOf(n)] - started;
    };
    expect(await deliveredWithin(1)).toBeLessThan(3000);
    // Kill the reading connections on the stream's master from the server side: they come back, tracking is turned on again.
    const master = await cluster.masterOfKey('wk:{wake.event}');
    for (const name of ['nestjs-event-bus:streams-reader-wake', 'nestjs-event-bus:streams-reader']) {
      const ids = (await redisCli(master.port, 'CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => line.includes(` name=${name} `))
        .map((line) => /^id=(\d+)/.exec(line)![1]);
      for (const id of ids) await redisCli(master.port, 'CLIENT', 'KILL', 'ID', id);
    }
    await until(
      async () => (await redisCli(master.port, 'CLIENT', 'LIST')).includes('name=nestjs-event-bus:streams-reader-wake '),
      10_000,
      'the wake-up connection back',
    );
    await sleep(500);
    expect(await deliveredWithin(2)).toBeLessThan(3000);
    expect(got).toEqual([1, 2]);
  }, 60_000);

  /**
   * One dispatch every 20 ms to an event whose slot lives on a master that gets SIGKILLed. Every handle
   * settles within publishTimeoutMs (hung = 0), each failure is a DriverUnavailableError, and once the
   * replica took over, dispatching and delivery resume with no help.
   */
  async function dispatchThroughFailover(
    bus: EventBus,
    eventName: string,
    key: string,
    publishTimeoutMs: number,
    delivered: () => number,
  ): Promise<{ resolved: number; failed: number; hung: number; other: number; deliveredAfter: boolean }> {
    const master = await cluster.masterOfKey(key);
    const outcomes: Array<Promise<'resolved' | 'failed' | 'hung' | 'other'>> = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        const handle = bus.dispatch(eventName, { i });
        outcomes.push(
          Promise.race([
            handle.then((result) => {
              if (result.errors.length === 0) return 'resolved' as const;
              return result.errors.every((error) => error.cause instanceof DriverUnavailableError)
                ? ('failed' as const)
                : ('other' as const);
            }),
            sleep(publishTimeoutMs + 1500).then(() => 'hung' as const),
          ]),
        );
        await sleep(20);
      }
    })();
    await sleep(300);
    await cluster.killMaster(master.port);
    await sleep(500);
    running = false;
    await loop;
    const counts = { resolved: 0, failed: 0, hung: 0, other: 0 };
    for (const outcome of await Promise.all(outcomes)) counts[outcome]++;
    // Resumes by itself on the promoted replica.
    const before = delivered();
    let deliveredAfter = false;
    const deadline = Date.now() + 15_000;
    while (!deliveredAfter && Date.now() < deadline) {
      const result = await bus.dispatch(eventName, { after: true });
      if (result.errors.length === 0) {
        await until(() => delivered() > before, 5000, 'delivery after the failover').then(
          () => (deliveredAfter = true),
          () => undefined,
        );
      }
      if (!deliveredAfter) await sleep(200);
    }
    await cluster.restart(master.port);
    return { ...counts, deliveredAfter };
  }

  it('redis-streams follows a slot move (MOVED) for plain and waited appends: every dispatch resolves and is handled', async () => {
    const seen: string[] = [];
    @Injectable()
    class Collector {
      @OnEvent(['moved.event', 'still.event'])
      on(event: { id: string }): void {
        seen.push(event.id);
      }
    }
    const redis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'mv:' };
    const plain = await boot({ providers: [Collector] }, { driver: 'redis-streams', redis, streams: { group: 'mv', blockMs: 200 } });
    const waited = await boot({}, { driver: 'redis-streams', redis, streams: { waitReplicas: 1 } });
    // Both apps learn the slot map, then the slot of one stream moves to another master.
    expect((await plain.bus.dispatch('moved.event', { id: 'warm-1' })).errors).toEqual([]);
    expect((await waited.bus.dispatch('moved.event', { id: 'warm-2' })).errors).toEqual([]);
    const slot = await cluster.slotOf('mv:{moved.event}');
    const from = await cluster.masterOfSlot(slot);
    const other = (await cluster.masters()).find((node) => node.port !== from.port)!;
    // A stream on a master other than the moved slot's new one, so the pipeline spans two slots of stale mapping.
    await cluster.moveSlot(slot, other.port);
    const handles: DispatchHandle[] = [];
    for (let i = 0; i < 5; i++) {
      handles.push(plain.bus.dispatch('moved.event', { id: `plain-${i}` }), plain.bus.dispatch('still.event', { id: `still-${i}` }));
      handles.push(waited.bus.dispatch('moved.event', { id: `waited-${i}` }));
    }
    for (const result of await Promise.all(handles)) expect(result.errors).toEqual([]);
    await until(() => seen.length === 17, 10_000, 'every event handled');
    expect(new Set(seen).size).toBe(17);
    expect((await cluster.masterOfKey('mv:{moved.event}')).port).toBe(other.port);
  }, 30_000);

  it('slots moving while plain streams appends and sharded publishes go on: each dispatch resolves or fails with DriverUnavailableError, none hangs, no resolved append is lost', async () => {
    type Outcome = 'resolved' | 'failed' | 'hung' | 'other';
    const handled = new Set<number>();
    const heard = new Set<number>();
    @Injectable()
    class StreamsCollector {
      @OnEvent(['slotmove.a', 'slotmove.b'])
      on(event: { i: number }): void {
        handled.add(event.i);
      }
    }
    @Injectable()
    class ShardedCollector {
      @OnEvent('slotmove.pubsub')
      on(event: { i: number }): void {
        heard.add(event.i);
      }
    }
    const publishTimeoutMs = 2000;
    const streamsRedis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'sm:', publishTimeoutMs };
    const shardedRedis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'sp:', publishTimeoutMs, sharded: true };
    await boot({ providers: [StreamsCollector] }, { driver: 'redis-streams', redis: streamsRedis, streams: { group: 'sm', blockMs: 200 } });
    const streamsSender = await boot({}, { driver: 'redis-streams', redis: streamsRedis });
    await boot({ providers: [ShardedCollector] }, { driver: 'redis', redis: shardedRedis });
    const shardedSender = await boot({}, { driver: 'redis', redis: shardedRedis });
    const outcome = (handle: DispatchHandle): Promise<Outcome> =>
      Promise.race([
        handle.then((result): Outcome => {
          if (result.errors.length === 0) return 'resolved';
          return result.errors.every((error) => error.cause instanceof DriverUnavailableError) ? 'failed' : 'other';
        }),
        sleep(publishTimeoutMs + 1500).then((): Outcome => 'hung'),
      ]);
    const streams: Array<Promise<[Outcome, number]>> = [];
    const sharded: Array<Promise<[Outcome, number]>> = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        const name = i % 2 === 0 ? 'slotmove.a' : 'slotmove.b';
        streams.push(outcome(streamsSender.bus.dispatch(name, { i })).then((o) => [o, i]));
        sharded.push(outcome(shardedSender.bus.dispatch('slotmove.pubsub', { i })).then((o) => [o, i]));
        await sleep(10);
      }
    })();
    await sleep(300);
    // Each slot to another master: MOVED for clients with the old map, ASK while half-moved.
    for (const key of ['sm:{slotmove.a}', 'sp:slotmove.pubsub', 'sm:{slotmove.b}']) {
      const slot = await cluster.slotOf(key);
      const from = await cluster.masterOfSlot(slot);
      const to = (await cluster.masters()).find((node) => node.port !== from.port)!;
      await cluster.moveSlot(slot, to.port, () => sleep(100));
      await sleep(200);
    }
    await sleep(300);
    running = false;
    await loop;
    const count = async (list: Array<Promise<[Outcome, number]>>) => {
      const counts = { resolved: 0, failed: 0, hung: 0, other: 0 };
      const resolved: number[] = [];
      for (const [o, i] of await Promise.all(list)) {
        counts[o]++;
        if (o === 'resolved') resolved.push(i);
      }
      return { counts, resolved };
    };
    const s = await count(streams);
    const p = await count(sharded);
    await until(() => s.resolved.every((i) => handled.has(i)), 15_000, 'every resolved append handled').catch(() => undefined);
    await sleep(300);
    const lostAppends = s.resolved.filter((i) => !handled.has(i)).length;
    const unheard = p.resolved.filter((i) => !heard.has(i)).length;
    console.log(
      `[cluster slot moves] streams ${JSON.stringify({ ...s.counts, lost: lostAppends })}, sharded ${JSON.stringify({ ...p.counts, unheard })}`,
    );
    for (const { counts } of [s, p]) {
      expect(counts.hung).toBe(0);
      expect(counts.other).toBe(0);
      expect(counts.resolved).toBeGreaterThan(0);
    }
    expect(lostAppends).toBe(0);
    // Pub/sub is at-most-once: a publish while the subscriber follows its channel's slot may reach nobody.
    // It must still arrive once the move is done.
    const last = await shardedSender.bus.dispatch('slotmove.pubsub', { i: -1 });
    expect(last.errors).toEqual([]);
    await until(() => heard.has(-1), 10_000, 'a sharded event after the moves');
  }, 90_000);

  describe('streams.waitReplicas: 1', () => {
    /**
     * Each run: dispatch every 20 ms to a stream whose master is SIGKILLed, then restart the old
     * master (it rejoins as the replica the promoted one needs). Every dispatch whose handle resolved
     * without error must be handled: resolved-but-never-handled = 0.
     */
    it('no dispatch that resolved is lost over two failovers; none hangs; unconfirmed ones fail with DriverUnavailableError', async () => {
      const handledIds = new Set<number>();
      @Injectable()
      class Collector {
        @OnEvent('waited.append')
        on(event: { i: number }): void {
          handledIds.add(event.i);
        }
      }
      const publishTimeoutMs = 2000;
      const app = await boot(
        { providers: [Collector] },
        {
          driver: 'redis-streams',
          redis: { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'wr:', publishTimeoutMs },
          streams: { group: 'wr', blockMs: 200, waitReplicas: 1 },
        },
      );
      // Confirmed appends on a healthy cluster.
      expect((await app.bus.dispatch('waited.append', { i: -1 })).errors).toEqual([]);
      const totals = { resolved: 0, failed: 0, hung: 0, other: 0, lost: 0 };
      let next = 0;
      for (let run = 0; run < 2; run++) {
        const master = await cluster.masterOfKey('wr:{waited.append}');
        const outcomes: Array<Promise<['resolved' | 'failed' | 'hung' | 'other', number]>> = [];
        let running = true;
        const loop = (async () => {
          while (running) {
            const i = next++;
            outcomes.push(
              Promise.race([
                app.bus.dispatch('waited.append', { i }).then((result): ['resolved' | 'failed' | 'other', number] => {
                  if (result.errors.length === 0) return ['resolved', i];
                  return [result.errors.every((error) => error.cause instanceof DriverUnavailableError) ? 'failed' : 'other', i];
                }),
                sleep(publishTimeoutMs + 1500).then((): ['hung', number] => ['hung', i]),
              ]),
            );
            await sleep(20);
          }
        })();
        await sleep(300);
        await cluster.killMaster(master.port);
        await cluster.restart(master.port);
        await sleep(300);
        running = false;
        await loop;
        const resolved: number[] = [];
        for (const [outcome, i] of await Promise.all(outcomes)) {
          totals[outcome]++;
          if (outcome === 'resolved') resolved.push(i);
        }
        await until(() => resolved.every((i) => handledIds.has(i)), 10_000, 'every resolved dispatch handled').catch(() => undefined);
        totals.lost += resolved.filter((i) => !handledIds.has(i)).length;
      }
      console.log(`[cluster failover x2, waitReplicas 1] ${JSON.stringify(totals)}`);
      expect(totals.hung).toBe(0);
      expect(totals.other).toBe(0);
      expect(totals.lost).toBe(0);
      expect(totals.resolved).toBeGreaterThan(0);
      expect(totals.failed).toBeGreaterThan(0);
      // And it resumes: with the old master back as a replica, appends are confirmed again.
      await until(async () => (await app.bus.dispatch('waited.append', { i: -2 })).errors.length === 0, 10_000, 'a confirmed append');
    }, 90_000);
  });

  describe('failover: a master SIGKILLed while dispatching', () => {
    it('redis-streams: no dispatch hangs, failures are DriverUnavailableError, dispatching and the consumer group resume', async () => {
      let handled = 0;
      @Injectable()
      class Counter {
        @OnEvent('failover.streams')
        on(): void {
          handled++;
        }
      }
      const publishTimeoutMs = 2000;
      const app = await boot(
        { providers: [Counter] },
        {
          driver: 'redis-streams',
          redis: { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'fo:', publishTimeoutMs },
          streams: { group: 'fo', blockMs: 200 },
        },
      );
      const counts = await dispatchThroughFailover(app.bus, 'failover.streams', 'fo:{failover.streams}', publishTimeoutMs, () => handled);
      console.log(`[cluster failover, redis-streams] ${JSON.stringify(counts)}`);
      expect(counts.hung).toBe(0);
      expect(counts.other).toBe(0);
      expect(counts.failed).toBeGreaterThan(0);
      expect(counts.resolved).toBeGreaterThan(0);
      expect(counts.deliveredAfter).toBe(true);
    }, 60_000);

    it('redis (classic pub/sub): no dispatch hangs, failures are DriverUnavailableError, publishing and the subscription resume', async () => {
      let received = 0;
      @Injectable()
      class Counter {
        @OnEvent('failover.pubsub')
        on(): void {
          received++;
        }
      }
      const publishTimeoutMs = 2000;
      const redis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'fp:', publishTimeoutMs };
      await boot({ providers: [Counter] }, { driver: 'redis', redis });
      const sender = await boot({}, { driver: 'redis', redis });
      // PUBLISH has no key: it goes to any master, so the killed one (the slot's) may not be the publisher's.
      const counts = await dispatchThroughFailover(sender.bus, 'failover.pubsub', 'fp:failover.pubsub', publishTimeoutMs, () => received);
      console.log(`[cluster failover, redis classic] ${JSON.stringify(counts)}`);
      expect(counts.hung).toBe(0);
      expect(counts.other).toBe(0);
      expect(counts.resolved).toBeGreaterThan(0);
      expect(counts.deliveredAfter).toBe(true);
    }, 60_000);

    it('redis (sharded pub/sub): SPUBLISH to the dead shard fails with DriverUnavailableError, none hangs, the sharded subscription resumes', async () => {
      let received = 0;
      @Injectable()
      class Counter {
        @OnEvent('failover.sharded')
        on(): void {
          received++;
        }
      }
      const publishTimeoutMs = 2000;
      const redis = { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'fs:', publishTimeoutMs, sharded: true };
      await boot({ providers: [Counter] }, { driver: 'redis', redis });
      const sender = await boot({}, { driver: 'redis', redis });
      const counts = await dispatchThroughFailover(sender.bus, 'failover.sharded', 'fs:failover.sharded', publishTimeoutMs, () => received);
      console.log(`[cluster failover, redis sharded] ${JSON.stringify(counts)}`);
      expect(counts.hung).toBe(0);
      expect(counts.other).toBe(0);
      expect(counts.failed).toBeGreaterThan(0);
      expect(counts.resolved).toBeGreaterThan(0);
      expect(counts.deliveredAfter).toBe(true);
    }, 60_000);
  });
});

// In this file, not a file of its own: two local clusters starting at once on a 2-core machine flag
// each other's nodes as failing, so every cluster spec runs in one file, one describe after the other.
describe('Redis Cluster test harness', () => {
  let cluster: RedisCluster;
  let client: Cluster | undefined;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
  });
  afterAll(async () => {
    client?.disconnect();
    await cluster?.destroy();
  });

  it('comes up with 3 masters and 3 replicas on free ports, one replica per master', async () => {
    const masters = await cluster.masters();
    const replicas = await cluster.replicas();
    expect(masters).toHaveLength(3);
    expect(replicas).toHaveLength(3);
    const ports = cluster.servers.map((server) => server.port);
    expect(new Set(ports).size).toBe(6);
    expect(ports).not.toContain(6379);
    // No node's port is another node's cluster bus port.
    for (const port of ports) expect(ports).not.toContain(port + 10_000);
    for (const master of masters) expect(replicas.filter((replica) => replica.masterId === master.id)).toHaveLength(1);
    for (const server of cluster.servers) expect(parseInfo(await redisCli(server.port, 'CLUSTER', 'INFO')).get('cluster_state')).toBe('ok');
  });

  it('spreads hash-tagged keys over several masters, each key stored on the master of its slot', async () => {
    client = new Cluster(cluster.startupNodes, { redisOptions: { maxRetriesPerRequest: 1 } });
    const masters = await cluster.masters();
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const key = `neb:{event-${i}}`;
      await client.set(key, String(i));
      const slot = Number(await client.cluster('KEYSLOT', key));
      const master = masters.find((node) => node.slots.some(([from, to]) => slot >= from && slot <= to))!;
      owners.add(master.port);
      // Asked directly (no redirect), the owning master has the key.
      expect((await redisCli(master.port, 'GET', key)).trim()).toBe(String(i));
    }
    expect(owners.size).toBe(3);
    expect((await cluster.masterOfKey('neb:{event-0}')).port).toBe(owners.values().next().value);
    // The hash tag pins a stream and its dead-letter stream to one slot.
    expect(await cluster.slotOf('neb:{OrderPlaced}:dlq')).toBe(await cluster.slotOf('neb:{OrderPlaced}'));
    client.disconnect();
    client = undefined;
  });

  it('moves a slot with its keys to another master (MOVED afterwards, ASK while half-moved)', async () => {
    const key = 'neb:{moving}';
    const slot = await cluster.slotOf(key);
    const from = await cluster.masterOfSlot(slot);
    const to = (await cluster.masters()).find((node) => node.id !== from.id)!;
    await redisCli(from.port, 'SET', key, 'v');
    let duringMove = '';
    await cluster.moveSlot(slot, to.port, async () => {
      duringMove = (await redisCli(from.port, 'GET', 'neb:{moving}:not-there')).trim();
    });
    expect(duringMove).toBe(`ASK ${slot} 127.0.0.1:${to.port}`);
    expect((await cluster.masterOfSlot(slot)).id).toBe(to.id);
    expect((await redisCli(to.port, 'GET', key)).trim()).toBe('v');
    expect((await redisCli(from.port, 'GET', key)).trim()).toBe(`MOVED ${slot} 127.0.0.1:${to.port}`);
  });

  it('replaces a SIGKILLed master with its replica, which has the data; the old master rejoins as a replica', async () => {
    const key = 'neb:{failover}';
    const victim = await cluster.masterOfKey(key);
    const replica = (await cluster.replicas()).find((node) => node.masterId === victim.id)!;
    await redisCli(victim.port, 'SET', key, 'kept');
    expect((await redisCli(victim.port, 'WAIT', '1', '2000')).trim()).toBe('1');

    const promoted = await cluster.killMaster(victim.port);
    expect(cluster.server(victim.port).running).toBe(false);
    expect(promoted.id).toBe(replica.id);
    expect((await cluster.masterOfKey(key)).port).toBe(replica.port);
    expect((await redisCli(replica.port, 'GET', key)).trim()).toBe('kept');
    expect(await cluster.masters()).toHaveLength(3);

    const rejoined = await cluster.restart(victim.port);
    expect(rejoined.role).toBe('replica');
    expect(rejoined.masterId).toBe(replica.id);
    expect(await cluster.replicas()).toHaveLength(3);
  });
});
