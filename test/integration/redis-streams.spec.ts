import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import {
  DeadLetterService,
  DomainEvent,
  DriverUnavailableError,
  EventBus,
  EventError,
  MessageRejectedError,
  OnEvent,
  type DeliveryMeta,
} from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, pendingCount, rawRedis, until } from '../support/streams-test-app';

@DomainEvent('order.placed')
class OrderPlaced {
  constructor(readonly orderId: string) {}
}

@Injectable()
class Billing {
  readonly seen: Array<{ event: OrderPlaced; meta: DeliveryMeta }> = [];
  @OnEvent(OrderPlaced)
  charge(event: OrderPlaced, meta: DeliveryMeta) {
    this.seen.push({ event, meta });
  }
}

@Injectable()
class Mailer {
  readonly seen: Array<{ event: OrderPlaced; meta: DeliveryMeta }> = [];
  @OnEvent(OrderPlaced, { async: true })
  async send(event: OrderPlaced, meta: DeliveryMeta) {
    this.seen.push({ event, meta });
  }
}

@Injectable()
class Flaky {
  readonly calls: DeliveryMeta[] = [];
  failuresLeft = 2;
  @OnEvent('flaky.happened', { retry: { attempts: 4, backoff: { baseMs: 20 } } })
  handle(_event: unknown, meta: DeliveryMeta) {
    this.calls.push(meta);
    if (this.failuresLeft-- > 0) throw new Error('flaky failure');
  }
}

@Injectable()
class Poisoned {
  broken = true;
  readonly handled: Array<{ n: number; meta: DeliveryMeta }> = [];
  readonly attempts: number[] = [];
  @OnEvent('poison.arrived')
  handle(event: { n: number }, meta: DeliveryMeta) {
    if (event.n === 1) this.attempts.push(meta.attempt);
    if (this.broken && event.n === 1) throw new Error('cannot handle n=1');
    this.handled.push({ n: event.n, meta });
  }
}

@Injectable()
class Plain {
  readonly seen: unknown[] = [];
  @OnEvent('plain.thing')
  handle(event: unknown) {
    this.seen.push(event);
  }
}

/**
 * A TCP proxy to Redis that can stop passing bytes on the blocking readers' connections, or on the
 * command connection, without closing them (a silent network failure). Connections opened later pass.
 */
async function freezingProxy(targetPort: number): Promise<{
  port: number;
  freezeReaders(): void;
  freezeCommand(): void;
  unfreeze(): void;
  close(): Promise<void>;
}> {
  const links: Array<{ reader: boolean; command: boolean; frozen: boolean; sockets: Socket[] }> = [];
  const proxy = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const link = { reader: false, command: false, frozen: false, sockets: [client, upstream] };
    links.push(link);
    client.on('data', (data) => {
      if (data.includes('nestjs-event-bus:streams-reader')) link.reader = true;
      else if (data.includes('nestjs-event-bus:streams\r\n')) link.command = true;
      if (!link.frozen) upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!link.frozen) client.write(data);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    freezeReaders: () => {
      for (const link of links) if (link.reader) link.frozen = true;
    },
    freezeCommand: () => {
      for (const link of links) if (link.command) link.frozen = true;
    },
    unfreeze: () => {
      for (const link of links) link.frozen = false;
    },
    close: async () => {
      for (const link of links) for (const socket of link.sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

/** Connections the driver opened (named nestjs-event-bus:streams*). */
async function namedClients(redis: Redis): Promise<number> {
  return String(await redis.call('CLIENT', 'LIST'))
    .split('\n')
    .filter((line) => / name=nestjs-event-bus:streams/.test(line)).length;
}

describe.each([
  { label: 'protocol 2', connection: { protocol: 2 } },
  { label: 'protocol 3', connection: { protocol: 3 } },
  { label: "protocol 3, replyMapping 'resp3'", connection: { protocol: 3, replyMapping: 'resp3' } },
] as const)('redis-streams driver (ioredis $label)', ({ connection }) => {
  let server: RedisServer;
  let redis: Redis;
  const apps: BootedApp[] = [];
  const boot = async (
    providers: Array<new (...args: never[]) => unknown>,
    prefix: string,
    streams: Record<string, unknown> = {},
    redisOptions: Record<string, unknown> = {},
  ) => {
    const app = await bootStreamsApp(
      { providers },
      { url: server.url, prefix, streams: { group: 'svc', ...streams }, redis: { ...connection, ...redisOptions } },
    );
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

  it('appends before the handle settles, and gives each listener group every event once with its entry id and attempt', async () => {
    const prefix = freshPrefix();
    const { app, bus } = await boot([Billing, Mailer], prefix);
    const key = `${prefix}order.placed`;
    // Groups exist once init resolved.
    const groups = ((await redis.call('XINFO', 'GROUPS', key)) as unknown[][]).map((g) => String(g[1]));
    expect(groups.sort()).toEqual(['svc:Billing.charge', 'svc:Mailer.send']);

    const handles = ['o1', 'o2', 'o3'].map((id) => bus.dispatch(new OrderPlaced(id)));
    const results = await Promise.all(handles);
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    expect(await redis.xlen(key)).toBe(3);

    const billing = app.get(Billing);
    const mailer = app.get(Mailer);
    await until(() => billing.seen.length === 3 && mailer.seen.length === 3, 10_000, 'both listeners');
    const ids = ((await redis.xrange(key, '-', '+')) as Array<[string, string[]]>).map(([id]) => id);
    expect(billing.seen.map((s) => s.meta.id)).toEqual(ids);
    expect(billing.seen.map((s) => s.event.orderId)).toEqual(['o1', 'o2', 'o3']);
    expect(billing.seen.every((s) => s.event instanceof OrderPlaced && s.meta.attempt === 1)).toBe(true);
    expect(mailer.seen.map((s) => s.meta.id).sort()).toEqual(ids);
    await until(
      async () => (await pendingCount(redis, key, 'svc:Billing.charge')) === 0 && (await pendingCount(redis, key, 'svc:Mailer.send')) === 0,
      5000,
      'acks',
    );
    // The §10 envelope is stored as is.
    const [[, fields]] = (await redis.xrange(key, '-', '+', 'COUNT', 1)) as Array<[string, string[]]>;
    const envelope = JSON.parse(fields[fields.indexOf('envelope') + 1]);
    expect(envelope).toMatchObject({
      event_name: 'order.placed',
      event_type: 'order.placed',
      event_data: { orderId: 'o1' },
      handle_id: handles[0].id,
    });
  });

  it('replicas of a service compete for events; another service gets every event', async () => {
    const prefix = freshPrefix();
    const a = await boot([Billing], prefix);
    const b = await boot([Billing], prefix);
    const other = await boot([Billing], prefix, { group: 'other-svc' });
    const handles = Array.from({ length: 60 }, (_, i) => a.bus.dispatch(new OrderPlaced(`o${i}`)));
    await Promise.all(handles);
    const inA = a.app.get(Billing).seen;
    const inB = b.app.get(Billing).seen;
    const inOther = other.app.get(Billing).seen;
    await until(() => inA.length + inB.length >= 60 && inOther.length >= 60, 10_000, 'all events handled');
    await new Promise((r) => setTimeout(r, 300));
    const shared = [...inA, ...inB].map((s) => s.event.orderId);
    expect(shared).toHaveLength(60);
    expect(new Set(shared).size).toBe(60);
    expect(inOther.map((s) => s.event.orderId).sort()).toEqual(handles.map((_, i) => `o${i}`).sort());
  });

  it('retries a failed entry with backoff (same id, attempt counting up) and acknowledges it after success', async () => {
    const prefix = freshPrefix();
    const { app, bus } = await boot([Flaky], prefix);
    const errors: EventError[] = [];
    bus.errors$.subscribe((e) => errors.push(e));
    const retries: Array<{ listener: string; attempt: number; error: unknown }> = [];
    bus.retries$.subscribe((r) => retries.push(r));
    await bus.dispatch('flaky.happened', { x: 1 });
    const flaky = app.get(Flaky);
    await until(() => flaky.calls.length === 3, 10_000, 'third attempt');
    expect(flaky.calls.map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(new Set(flaky.calls.map((c) => c.id)).size).toBe(1);
    await until(async () => (await pendingCount(redis, `${prefix}flaky.happened`, 'svc:Flaky.handle')) === 0, 5000, 'ack');
    expect(await redis.xlen(`${prefix}flaky.happened:dlq`)).toBe(0);
    expect(errors).toEqual([]);
    expect(retries.map((r) => [r.listener, r.attempt, (r.error as Error).message])).toEqual([
      ['Flaky.handle', 1, 'flaky failure'],
      ['Flaky.handle', 2, 'flaky failure'],
    ]);
    expect(bus.stats().retries).toBe(2);
  });

  it('dead-letters a poison event after maxAttempts while the stream keeps flowing; replay after the fix handles it', async () => {
    const prefix = freshPrefix();
    const { app, bus } = await boot([Poisoned], prefix, { maxAttempts: 3 });
    const errors: EventError[] = [];
    bus.errors$.subscribe((e) => errors.push(e));
    const poisoned = app.get(Poisoned);
    const dlq = app.get(DeadLetterService);
    for (let n = 1; n <= 5; n++) await bus.dispatch('poison.arrived', { n });
    // Events after the poison one are handled while it is retried.
    await until(() => poisoned.handled.length === 4, 10_000, 'the other events');
    await until(async () => (await dlq.count('poison.arrived')) === 1, 10_000, 'the dead letter');
    expect(poisoned.attempts).toEqual([1, 2, 3]);
    const key = `${prefix}poison.arrived`;
    expect(await pendingCount(redis, key, 'svc:Poisoned.handle')).toBe(0);
    const [letter] = await dlq.list('poison.arrived', { count: 10 });
    const sourceIds = ((await redis.xrange(key, '-', '+')) as Array<[string, string[]]>).map(([id]) => id);
    expect(letter).toMatchObject({
      eventId: sourceIds[0],
      listener: 'Poisoned.handle',
      group: 'svc:Poisoned.handle',
      attempts: 3,
      error: 'cannot handle n=1',
      eventName: 'poison.arrived',
    });
    expect(JSON.parse(letter.envelope)).toMatchObject({ event_name: 'poison.arrived', event_data: { n: 1 } });
    expect(errors.map((e) => [e.listener, (e.cause as Error).message])).toEqual([['Poisoned.handle', 'cannot handle n=1']]);

    // Still broken: replay fails and keeps the dead letter.
    await expect(dlq.replay('poison.arrived', letter.id)).rejects.toThrow('cannot handle n=1');
    expect(await dlq.count('poison.arrived')).toBe(1);
    poisoned.broken = false;
    await dlq.replay('poison.arrived', letter.id);
    const replayed = poisoned.handled.find((h) => h.n === 1);
    expect(replayed?.meta.id).toBe(letter.eventId);
    expect(await dlq.count('poison.arrived')).toBe(0);
    await expect(dlq.replay('poison.arrived', letter.id)).rejects.toThrow(/no dead letter/);
  });

  it('dead-letters malformed and oversize entries with a reason, reports them, and keeps the group flowing', async () => {
    const prefix = freshPrefix();
    const { app, bus } = await boot([Plain], prefix, {}, { maxEventSize: 2000 });
    const errors: EventError[] = [];
    bus.errors$.subscribe((e) => errors.push(e));
    const key = `${prefix}plain.thing`;
    await redis.xadd(key, '*', 'envelope', '{not json');
    await redis.xadd(key, '*', 'something', 'else');
    await redis.xadd(
      key,
      '*',
      'envelope',
      JSON.stringify({
        event_name: 'plain.thing',
        event_type: 'plain.thing',
        event_data: 'x'.repeat(5000),
        handle_id: 'a'.repeat(16),
        timestamp: 1,
      }),
    );
    await bus.dispatch('plain.thing', { ok: true });
    const plain = app.get(Plain);
    await until(() => plain.seen.length === 1, 10_000, 'the good event');
    expect(plain.seen).toEqual([{ ok: true }]);
    const dlq = app.get(DeadLetterService);
    await until(async () => (await dlq.count('plain.thing')) === 3, 5000, 'three dead letters');
    const letters = await dlq.list('plain.thing');
    expect(letters.map((l) => l.reason)).toEqual([
      expect.stringMatching(/malformed JSON/),
      expect.stringMatching(/no 'envelope' field/),
      expect.stringMatching(/size limit/),
    ]);
    expect(letters[2].truncated).toBe(true);
    expect(letters[2].size).toBeGreaterThan(5000);
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e).toBeInstanceOf(EventError);
      expect(e.listener).toBe('subscriber');
      expect(e.cause).toBeInstanceOf(MessageRejectedError);
      expect((e.cause as MessageRejectedError).channel).toBe(key);
    }
    expect(await pendingCount(redis, key, 'svc:Plain.handle')).toBe(0);
    expect(bus.stats().rejectedMessages).toBe(3);
  });
});

describe('redis-streams driver: start-up, lifecycle and faults', () => {
  let server: RedisServer;
  let redis: Redis;
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

  it('fails app.init() without streams.group when the app has listeners; a dispatch-only app needs none', async () => {
    const prefix = freshPrefix();
    await expect(bootStreamsApp({ providers: [Plain] }, { url: server.url, prefix })).rejects.toThrow(
      /streams\.group' is required .*Plain\.handle/,
    );
    const sender = await bootStreamsApp({}, { url: server.url, prefix });
    apps.push(sender);
    const result = await sender.bus.dispatch('plain.thing', { a: 1 });
    expect(result.errors).toEqual([]);
    expect(await redis.xlen(`${prefix}plain.thing`)).toBe(1);
  });

  it('a failed start-up leaves no connection open (the subscriptions made before the failure are released)', async () => {
    @Injectable()
    class Mixed {
      @OnEvent('fine.event')
      fine() {}
      @OnEvent('user.*')
      wild() {}
    }
    const before = await namedClients(redis);
    await expect(
      bootStreamsApp({ providers: [Mixed] }, { url: server.url, prefix: freshPrefix(), streams: { group: 'svc' } }),
    ).rejects.toThrow(/wildcard/);
    await new Promise((r) => setTimeout(r, 300));
    expect(await namedClients(redis)).toBe(before);
  });

  it('refuses wildcard listeners at start-up with a clear error', async () => {
    @Injectable()
    class Wild {
      @OnEvent('user.*')
      any() {}
    }
    await expect(
      bootStreamsApp({ providers: [Wild] }, { url: server.url, prefix: freshPrefix(), streams: { group: 'svc' } }),
    ).rejects.toThrow(/does not support wildcard listeners: Wild\.any listens to 'user\.\*'/);
  });

  it("starts new groups at new entries by default, and at the stream's beginning with startFrom: 'beginning'", async () => {
    const prefix = freshPrefix();
    const sender = await bootStreamsApp({}, { url: server.url, prefix });
    apps.push(sender);
    await sender.bus.dispatch('plain.thing', 'old');
    const fromNew = await bootStreamsApp({ providers: [Plain] }, { url: server.url, prefix, streams: { group: 'new-svc' } });
    const fromStart = await bootStreamsApp(
      { providers: [Plain] },
      { url: server.url, prefix, streams: { group: 'old-svc', startFrom: 'beginning' } },
    );
    apps.push(fromNew, fromStart);
    await sender.bus.dispatch('plain.thing', 'fresh');
    await until(() => fromNew.app.get(Plain).seen.length === 1 && fromStart.app.get(Plain).seen.length === 2, 10_000, 'deliveries');
    await new Promise((r) => setTimeout(r, 200));
    expect(fromNew.app.get(Plain).seen).toEqual(['fresh']);
    expect(fromStart.app.get(Plain).seen).toEqual(['old', 'fresh']);
  });

  it('on close, finishes and acknowledges the entry in flight, then releases its connections', async () => {
    const prefix = freshPrefix();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const done: string[] = [];
    @Injectable()
    class Slow {
      @OnEvent('slow.job')
      async run(event: string) {
        await gate;
        done.push(event);
      }
    }
    const before = await namedClients(redis);
    const app = await bootStreamsApp({ providers: [Slow] }, { url: server.url, prefix, streams: { group: 'svc' } });
    apps.push(app);
    await until(async () => (await namedClients(redis)) === before + 4, 5000, 'one command connection, two read connections and one wake-up connection');
    await app.bus.dispatch('slow.job', 'j1');
    const key = `${prefix}slow.job`;
    await until(async () => (await pendingCount(redis, key, 'svc:Slow.run')) === 1, 5000, 'entry taken');
    const closing = app.close();
    setTimeout(release, 150);
    await closing;
    apps.pop();
    expect(done).toEqual(['j1']);
    expect(await pendingCount(redis, key, 'svc:Slow.run')).toBe(0);
    expect(await namedClients(redis)).toBe(before);
  });

  it('reclaims entries a stopped consumer left pending after claimIdleMs, as the next attempt', async () => {
    const prefix = freshPrefix();
    const seen: Array<{ by: string; meta: DeliveryMeta }> = [];
    const make = (by: string, hang: boolean) => {
      @Injectable()
      class Worker {
        @OnEvent('job.queued')
        run(_e: unknown, meta: DeliveryMeta) {
          seen.push({ by, meta });
          return hang ? new Promise(() => undefined) : undefined;
        }
      }
      return Worker;
    };
    // The first replica takes the entry and never finishes it; its close gives up after shutdownTimeoutMs.
    const stuck = await bootStreamsApp(
      { providers: [make('stuck', true)] },
      { url: server.url, prefix, streams: { group: 'svc', claimIdleMs: 400 }, shutdownTimeoutMs: 100 },
    );
    await stuck.bus.dispatch('job.queued', 1);
    await until(() => seen.length === 1, 5000, 'first delivery');
    await stuck.close();
    const healthy = await bootStreamsApp(
      { providers: [make('healthy', false)] },
      { url: server.url, prefix, streams: { group: 'svc', claimIdleMs: 400 } },
    );
    apps.push(healthy);
    await until(() => seen.length === 2, 10_000, 'reclaimed delivery');
    expect(seen.map((s) => [s.by, s.meta.attempt])).toEqual([
      ['stuck', 1],
      ['healthy', 2],
    ]);
    expect(seen[1].meta.id).toBe(seen[0].meta.id);
    await until(async () => (await pendingCount(redis, `${prefix}job.queued`, 'svc:Worker.run')) === 0, 5000, 'ack');
  });

  it('notices a killed reader connection and a Redis restart, and resumes reading; a publish while Redis is down fails in time', async () => {
    const prefix = freshPrefix();
    const app = await bootStreamsApp(
      { providers: [Plain] },
      { url: server.url, prefix, streams: { group: 'svc' }, redis: { publishTimeoutMs: 400 } },
    );
    apps.push(app);
    const plain = app.app.get(Plain);
    await app.bus.dispatch('plain.thing', 1);
    await until(() => plain.seen.length === 1, 5000, 'first event');
    // Kill the reading connections (both read lanes and the wake-up) from the server side.
    const list = String(await redis.call('CLIENT', 'LIST'));
    const readerIds = list
      .split('\n')
      .filter((l) => l.includes('name=nestjs-event-bus:streams-reader'))
      .map((l) => /id=(\d+)/.exec(l)![1]);
    expect(readerIds.length).toBe(3);
    for (const id of readerIds) await redis.call('CLIENT', 'KILL', 'ID', id);
    await app.bus.dispatch('plain.thing', 2);
    await until(() => plain.seen.length === 2, 10_000, 'event after the reader was killed');

    // Redis dies (no persistence: streams and groups are gone) and comes back.
    await server.kill();
    const failed = await app.bus.dispatch('plain.thing', 'lost');
    expect(failed.errors).toHaveLength(1);
    expect(failed.errors[0].listener).toBe('publisher');
    expect((failed.errors[0].cause as Error).name).toBe('DriverUnavailableError');
    await server.launch();
    await until(async () => (await app.bus.dispatch('plain.thing', 3)).errors.length === 0, 10_000, 'publishing again');
    await until(() => plain.seen.includes(3), 15_000, 'event after the restart');
    expect(plain.seen).not.toContain('lost');
  });

  it('notices a blocking read that never answers (half-open connection) and reads again on a new connection', async () => {
    const proxy = await freezingProxy(server.port);
    try {
      const prefix = freshPrefix();
      const app = await bootStreamsApp(
        { providers: [Plain] },
        { url: `redis://127.0.0.1:${proxy.port}`, prefix, streams: { group: 'svc', blockMs: 200 } },
      );
      apps.push(app);
      const plain = app.app.get(Plain);
      await app.bus.dispatch('plain.thing', 'before');
      await until(() => plain.seen.length === 1, 5000, 'first event');
      // The reader's socket stays open but nothing gets through any more, as after a silent network failure.
      proxy.freezeReaders();
      await app.bus.dispatch('plain.thing', 'after');
      await until(() => plain.seen.length === 2, 20_000, 'the event after the freeze');
      expect(plain.seen).toEqual(['before', 'after']);
    } finally {
      await proxy.close();
    }
  });

  it('resets a command connection that stops answering (half-open): acks, then appends, work again without a restart', async () => {
    const proxy = await freezingProxy(server.port);
    try {
      const prefix = freshPrefix();
      const publishTimeoutMs = 500;
      const app = await bootStreamsApp(
        { providers: [Plain] },
        { url: `redis://127.0.0.1:${proxy.port}`, prefix, streams: { group: 'svc', blockMs: 200 }, redis: { publishTimeoutMs } },
      );
      apps.push(app);
      const sender = await bootStreamsApp({}, { url: server.url, prefix });
      apps.push(sender);
      const plain = app.app.get(Plain);
      const stream = `${prefix}plain.thing`;
      const group = 'svc:Plain.handle';
      await app.bus.dispatch('plain.thing', 'before');
      await until(() => plain.seen.length === 1, 5000, 'first event');
      await until(async () => (await pendingCount(redis, stream, group)) === 0, 5000, 'first ack');

      // The consumer's command connection goes silent: the entry is read (the reader still works) and
      // handled, but its XACK gets no answer. The connection is reset and the ack goes out on a new one.
      proxy.freezeCommand();
      await sender.bus.dispatch('plain.thing', 'during');
      await until(() => plain.seen.includes('during'), 5000, 'the event read while the command connection is frozen');
      await until(async () => (await pendingCount(redis, stream, group)) === 0, 10_000, 'the ack after the command connection was reset');

      // Appends on a silent connection: the dispatch fails by publishTimeoutMs, the connection is reset,
      // and later dispatches from the same app are appended and consumed.
      proxy.freezeCommand();
      const failed = await app.bus.dispatch('plain.thing', 'lost');
      expect(failed.errors).toHaveLength(1);
      expect(failed.errors[0].listener).toBe('publisher');
      expect(failed.errors[0].cause).toBeInstanceOf(DriverUnavailableError);
      await until(async () => (await app.bus.dispatch('plain.thing', 'after')).errors.length === 0, 10_000, 'appends to work again');
      await until(() => plain.seen.includes('after'), 10_000, 'the event dispatched after the reset');
      proxy.unfreeze();
      await app.bus.dispatch('plain.thing', 'unfrozen');
      await until(() => plain.seen.includes('unfrozen'), 10_000, 'the event dispatched after the network healed');
      await until(async () => (await pendingCount(redis, stream, group)) === 0, 10_000, 'every entry acknowledged');
      // The append that failed was never sent later.
      const entries = (await redis.xrange(stream, '-', '+')) as Array<[string, string[]]>;
      const sent = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('envelope') + 1]).event_data);
      expect(sent).not.toContain('lost');
      expect(plain.seen).not.toContain('lost');
    } finally {
      await proxy.close();
    }
  });

  it('pipelines many appends made in one tick and confirms each', async () => {
    const prefix = freshPrefix();
    const sender = await bootStreamsApp({}, { url: server.url, prefix });
    apps.push(sender);
    await sender.bus.dispatch('bulk.item', 'warm-up');
    const stats = async (): Promise<{ commands: number; reads: number }> => {
      const info = String(await redis.info('stats'));
      return {
        commands: Number(/total_commands_processed:(\d+)/.exec(info)![1]),
        reads: Number(/total_reads_processed:(\d+)/.exec(info)![1]),
      };
    };
    const before = await stats();
    const handles = Array.from({ length: 3000 }, (_, i) => sender.bus.dispatch('bulk.item', { i }));
    const results = await Promise.all(handles);
    const after = await stats();
    expect(results.flatMap((r) => r.errors.map((e) => e.message)).slice(0, 3)).toEqual([]);
    expect(await redis.xlen(`${prefix}bulk.item`)).toBe(3001);
    // One XADD per event, arriving in a few large socket reads rather than one read per command.
    expect(after.commands - before.commands).toBeLessThan(3000 + 20);
    expect(after.reads - before.reads).toBeLessThan(300);
  });

  it('gives an async listener no more entries at once than its concurrency (its queue never overflows)', async () => {
    const prefix = freshPrefix();
    let running = 0;
    let most = 0;
    let done = 0;
    @Injectable()
    class Limited {
      @OnEvent('limited.job', { async: true, concurrency: 2, maxQueue: 1, overflow: 'reject' })
      async run() {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 10));
        running--;
        done++;
      }
    }
    const app = await bootStreamsApp({ providers: [Limited] }, { url: server.url, prefix, streams: { group: 'svc' } });
    apps.push(app);
    const errors: EventError[] = [];
    app.bus.errors$.subscribe((e) => errors.push(e));
    await Promise.all(Array.from({ length: 30 }, (_, i) => app.bus.dispatch('limited.job', i)));
    await until(() => done === 30, 10_000, 'all jobs');
    expect(most).toBeLessThanOrEqual(2);
    expect(errors).toEqual([]);
    expect(app.bus.stats().queueOverflows ?? 0).toBe(0);
  });

  it('removes consumers of replicas that are gone (nothing pending, idle long enough) and keeps its own', async () => {
    const prefix = freshPrefix();
    const key = `${prefix}plain.thing`;
    await redis.call('XGROUP', 'CREATE', key, 'svc:Plain.handle', '$', 'MKSTREAM');
    await redis.call('XGROUP', 'CREATECONSUMER', key, 'svc:Plain.handle', 'ghost-replica');
    const app = await bootStreamsApp(
      { providers: [Plain] },
      { url: server.url, prefix, streams: { group: 'svc', claimIdleMs: 300, blockMs: 100, consumer: 'live-replica' } },
    );
    apps.push(app);
    const names = async (): Promise<string[]> =>
      ((await redis.call('XINFO', 'CONSUMERS', key, 'svc:Plain.handle')) as unknown[][]).map((row) => String(row[1]));
    await until(async () => !(await names()).includes('ghost-replica'), 10_000, 'the ghost consumer to be removed');
    await app.bus.dispatch('plain.thing', 1);
    await until(() => app.app.get(Plain).seen.length === 1, 5000, 'delivery');
    expect(await names()).toContain('live-replica');
  });

  it('works for an ACL user allowed only the documented commands (no CLIENT UNBLOCK)', async () => {
    const commands =
      '+xadd +xreadgroup +xread +xrevrange +xack +xclaim +xautoclaim +xpending +xgroup +xinfo +xrange +xlen +xdel +eval +info +hello +client|id +client|setname';
    const acl = await RedisServer.start({ config: [`user app on >app-pw ~acl:* ${commands}`] });
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const seen: unknown[] = [];
      @Injectable()
      class Gated {
        @OnEvent('acl.thing')
        async handle(event: unknown) {
          if (event === 'bad') throw new Error('bad event');
          seen.push(event);
          if (seen.length === 2) await gate;
        }
      }
      const app = await bootStreamsApp(
        { providers: [Gated] },
        { url: `redis://app:app-pw@127.0.0.1:${acl.port}`, prefix: 'acl:', streams: { group: 'svc', maxAttempts: 2 } },
      );
      const errors: EventError[] = [];
      app.bus.errors$.subscribe((e) => errors.push(e));
      await app.bus.dispatch('acl.thing', 'bad');
      const dlq = app.app.get(DeadLetterService);
      await until(async () => (await dlq.count('acl.thing')) === 1, 5000, 'the dead letter');
      const [letter] = await dlq.list('acl.thing');
      expect(await dlq.delete('acl.thing', letter.id)).toBe(true);
      await app.bus.dispatch('acl.thing', 1);
      await app.bus.dispatch('acl.thing', 2);
      await until(() => seen.length === 2, 5000, 'deliveries');
      const closing = app.close();
      setTimeout(release, 100);
      await closing;
      expect(errors.map((e) => e.message)).toEqual([`event 'acl.thing' listener 'Gated.handle': bad event`]);
      const admin = rawRedis(acl.url);
      expect(await pendingCount(admin, 'acl:acl.thing', 'svc:Gated.handle')).toBe(0);
      admin.disconnect();
    } finally {
      await acl.destroy();
    }
  });

  it('unregistering a listener stops its consumer; its group keeps the events meanwhile and a re-registered listener catches up', async () => {
    const prefix = freshPrefix();
    const app = await bootStreamsApp({}, { url: server.url, prefix, streams: { group: 'svc' } });
    apps.push(app);
    const got: Array<{ event: unknown; attempt: number }> = [];
    const listener = {
      eventName: 'audit.entry',
      name: 'Auditor',
      onEvent: (event: unknown, meta?: DeliveryMeta) => void got.push({ event, attempt: meta!.attempt }),
    };
    app.bus.registerListener(listener);
    await until(
      async () => ((await redis.call('XINFO', 'GROUPS', `${prefix}audit.entry`).catch(() => [])) as unknown[]).length === 1,
      5000,
      'the group',
    );
    await app.bus.dispatch('audit.entry', 'a');
    await until(() => got.length === 1, 5000, 'first event');
    await app.bus.unregisterListenersForEvent('audit.entry');
    await app.bus.dispatch('audit.entry', 'b');
    await app.bus.dispatch('audit.entry', 'c');
    await new Promise((r) => setTimeout(r, 400));
    expect(got.map((g) => g.event)).toEqual(['a']);
    app.bus.registerListener(listener);
    await until(() => got.length === 3, 5000, 'the events appended while it was away');
    expect(got).toEqual([
      { event: 'a', attempt: 1 },
      { event: 'b', attempt: 1 },
      { event: 'c', attempt: 1 },
    ]);
  });

  it('DeadLetterService explains that it needs the redis-streams driver', async () => {
    const { bootApp } = await import('../support/boot-app');
    const app = await bootApp({}, {});
    apps.push(app);
    const dlq = app.app.get(DeadLetterService);
    await expect(dlq.count('x')).rejects.toThrow(/needs driver 'redis-streams': the driver in use is 'memory'/);
    await expect(dlq.replay('x', '1-0')).rejects.toThrow(/DeadLetterService\.replay\(\) needs driver 'redis-streams'/);
    expect(app.app.get(EventBus)).toBeDefined();
  });

  it('replay refuses a dead letter of a listener that this app does not run, and delete removes one', async () => {
    const prefix = freshPrefix();
    const app = await bootStreamsApp({ providers: [Plain] }, { url: server.url, prefix, streams: { group: 'svc' } });
    apps.push(app);
    const dlq = app.app.get(DeadLetterService);
    const key = `${prefix}plain.thing:dlq`;
    const envelope = JSON.stringify({
      event_name: 'plain.thing',
      event_type: 'plain.thing',
      event_data: 1,
      handle_id: 'b'.repeat(16),
      timestamp: 1,
    });
    const foreign = await redis.xadd(
      key,
      '*',
      'event_id',
      '1-0',
      'listener',
      'Other.run',
      'group',
      'billing:Other.run',
      'attempts',
      '5',
      'error',
      'x',
      'envelope',
      envelope,
    );
    await expect(dlq.replay('plain.thing', foreign!)).rejects.toThrow(/belongs to consumer group 'billing:Other\.run'/);
    const absent = await redis.xadd(
      key,
      '*',
      'event_id',
      '2-0',
      'listener',
      'Gone.run',
      'group',
      'svc:Gone.run',
      'attempts',
      '5',
      'error',
      'x',
      'envelope',
      envelope,
    );
    await expect(dlq.replay('plain.thing', absent!)).rejects.toThrow(/Gone\.run, which is not registered in this app/);
    expect(await dlq.count('plain.thing')).toBe(2);
    expect(await dlq.delete('plain.thing', foreign!)).toBe(true);
    expect(await dlq.delete('plain.thing', foreign!)).toBe(false);
    expect((await dlq.list('plain.thing')).map((l) => l.id)).toEqual([absent]);
  });
});
