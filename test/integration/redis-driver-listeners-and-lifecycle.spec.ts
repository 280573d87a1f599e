import { Injectable, type OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { DispatchTimeoutError, DomainEvent, EventBus, EventError, MessageRejectedError, OnEvent } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';
import { rawClient, startRedisApp, until, type RedisTestApp } from '../support/redis-test-app';

/**
 * The redis (pub/sub) driver with listeners and the bus lifecycle: routing of received events by
 * name, async listeners on both sides (handles never hang, in-flight counts stay sound), observe(),
 * dispatches made during start-up, and draining on app.close().
 */

@DomainEvent('gapr.user.registered')
class GapUserRegistered {
  constructor(readonly userId: string) {}
}

@DomainEvent('gapr.boot')
class GapBoot {
  constructor(readonly from: string) {}
}

@Injectable()
class TypedListener {
  readonly seen: unknown[] = [];
  @OnEvent(GapUserRegistered)
  onUser(event: unknown) {
    this.seen.push(event);
  }
  @OnEvent(GapBoot)
  onBoot(event: unknown) {
    this.seen.push(event);
  }
}

/** Dispatches while the application is still starting (constructor and onModuleInit). */
@Injectable()
class EarlyPublisher implements OnModuleInit {
  constructor(private readonly bus: EventBus) {
    bus.dispatch(new GapBoot('constructor'));
  }
  onModuleInit() {
    this.bus.dispatch(new GapBoot('onModuleInit'));
  }
}

function envelope(name: string, type: string, data: unknown): string {
  return JSON.stringify({ event_name: name, event_type: type, event_data: data, handle_id: '0123456789abcdef', timestamp: 1767225600 });
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('redis driver: listeners, observers and lifecycle', () => {
  let server: RedisServer;
  const apps: RedisTestApp[] = [];
  const clients: Redis[] = [];
  const start = async (...args: Parameters<typeof startRedisApp>): Promise<RedisTestApp> => {
    const app = await startRedisApp({ retryStrategy: () => 50, ...args[0] }, args[1] ?? [TypedListener], args[2]);
    apps.push(app);
    return app;
  };
  const numsub = async (channel: string): Promise<number> => {
    const admin = rawClient(server.url);
    clients.push(admin);
    const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  };

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('routing by name only: an event of an unregistered type is rebuilt as the only class registered for its name, under strictTypes too; with no class it is plain data, and a receive error under strictTypes', async () => {
    const lax = await start({ url: server.url });
    const strict = await start({ url: server.url }, [TypedListener], { strictTypes: true });
    const publisher = rawClient(server.url);
    clients.push(publisher);
    const channel = 'goevent:gapr.user.registered';
    // A Go service publishing its own type key for the name (goevent sends the name, or its own key).
    await publisher.publish(channel, envelope('gapr.user.registered', 'go.UserRegistered', { userId: 'go-1' }));
    await publisher.publish(channel, envelope('gapr.user.registered', 'gapr.user.registered', { userId: 'typed-1' }));

    const laxSeen = lax.get(TypedListener).seen;
    const strictSeen = strict.get(TypedListener).seen;
    await until(() => laxSeen.length === 2 && strictSeen.length === 2, 'both messages in both apps');
    for (const seen of [laxSeen, strictSeen]) {
      expect(seen[0]).toEqual(new GapUserRegistered('go-1'));
      expect(seen[0]).toBeInstanceOf(GapUserRegistered);
      expect(seen[1]).toEqual(new GapUserRegistered('typed-1'));
    }
    expect(lax.errors).toEqual([]);
    expect(strict.errors).toEqual([]);

    // A name no class is registered for: plain data, or a receive error under strictTypes.
    const untyped: unknown[] = [];
    lax.bus.registerListener({ eventName: 'gapr.untyped', onEvent: (e) => void untyped.push(e) });
    strict.bus.registerListener({ eventName: 'gapr.untyped', onEvent: (e) => void untyped.push(e) });
    await until(async () => Number((await publisher.pubsub('NUMSUB', 'goevent:gapr.untyped'))[1]) === 2, 'both subscribed');
    await publisher.publish('goevent:gapr.untyped', envelope('gapr.untyped', 'go.Untyped', { k: 1 }));
    await until(() => untyped.length === 1 && strict.errors.length === 1, 'plain data in the lax app, an error in the strict one');
    expect(Object.getPrototypeOf(untyped[0])).toBe(Object.prototype);
    expect(untyped[0]).toEqual({ k: 1 });
    expect(strict.errors[0]!.listener).toBe('subscriber');
    const cause = strict.errors[0]!.cause as MessageRejectedError;
    expect(cause).toBeInstanceOf(MessageRejectedError);
    expect(cause.channel).toBe('goevent:gapr.untyped');
    expect(cause.reason).toMatch(/unknown event_type 'go\.Untyped'/);
  });

  it('goevent: local async listeners on the publisher never hang its handle; their errors are on it', async () => {
    const a = await start({ url: server.url }, []);
    const calls: string[] = [];
    a.bus.registerListener(
      { eventName: 'gapr.pub', name: 'localSync', onEvent: () => void calls.push('sync') },
      {
        eventName: 'gapr.pub',
        name: 'localAsync',
        options: { async: true },
        onEvent: async () => {
          await new Promise((r) => setTimeout(r, 5));
          calls.push('async');
          throw new Error('async failed');
        },
      },
    );
    await until(async () => (await numsub('goevent:gapr.pub')) === 1, 'the subscription');
    const handle = a.bus.dispatch('gapr.pub', { n: 1 });
    expect(calls).toEqual(['sync']);
    const result = await handle.wait({ timeoutMs: 5_000 });
    expect(calls).toEqual(['sync', 'async']);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.listener).toBe('localAsync');
    expect((result.errors[0]!.cause as Error).message).toBe('async failed');
    // Nothing left in flight (no negative or stuck counter): bus.wait() resolves, and still waits for real work.
    await a.bus.wait({ timeoutMs: 5_000 });
  });

  it('goevent: async listeners of received events keep the in-flight count sound (never negative, never stuck)', async () => {
    const a = await start({ url: server.url }, []);
    const b = await start({ url: server.url }, []);
    let received = 0;
    b.bus.registerListener(
      { eventName: 'gapr.many', options: { async: true }, onEvent: async () => void received++ },
      { eventName: 'gapr.many', options: { async: true }, onEvent: () => Promise.reject(new Error('remote failure')) },
      { eventName: 'gapr.many', onEvent: () => undefined },
    );
    await until(async () => (await numsub('goevent:gapr.many')) === 1, 'b subscribed');
    for (let i = 0; i < 200; i++) a.bus.dispatch('gapr.many', { i });
    await until(() => received === 200, 'b to receive 200 events');
    await b.bus.wait({ timeoutMs: 5_000 });
    expect(b.errors).toHaveLength(200);
    expect(b.errors.every((e) => e instanceof EventError && e.eventName === 'gapr.many')).toBe(true);

    // A received event whose async listener hangs must keep b.bus.wait() pending: a counter driven
    // below zero by the 200 events before would let it resolve at once.
    const gate = deferred();
    let started = false;
    b.bus.registerListener({
      eventName: 'gapr.hang',
      options: { async: true },
      onEvent: () => {
        started = true;
        return gate.promise;
      },
    });
    await until(async () => (await numsub('goevent:gapr.hang')) === 1, 'b subscribed to gapr.hang');
    a.bus.dispatch('gapr.hang');
    await until(() => started, 'the hanging listener to start');
    await expect(b.bus.wait({ timeoutMs: 50 })).rejects.toBeInstanceOf(DispatchTimeoutError);
    gate.resolve();
    await b.bus.wait({ timeoutMs: 5_000 });
  });

  it('dispatches made before app.init() resolves (constructor, onModuleInit) are published once ready, not lost', async () => {
    const receiver = await start({ url: server.url });
    const publisher = await start({ url: server.url }, [EarlyPublisher]);
    const seen = receiver.get(TypedListener).seen;
    await until(() => seen.length === 2, 'both early events in the other app');
    expect(seen).toEqual([new GapBoot('constructor'), new GapBoot('onModuleInit')]);
    expect(publisher.errors).toEqual([]);
  });

  it('observe() on the redis driver sees events from other apps, and unsubscribing drops the Redis subscription', async () => {
    const a = await start({ url: server.url }, []);
    const b = await start({ url: server.url }, []);
    const seen: unknown[] = [];
    const subscription = b.bus.observe(GapUserRegistered).subscribe((e) => seen.push(e));
    await until(async () => (await numsub('goevent:gapr.user.registered')) === 1, 'the observe() subscription on Redis');
    await a.bus.dispatch(new GapUserRegistered('o1'));
    await until(() => seen.length === 1, 'b to observe the event');
    expect(seen[0]).toBeInstanceOf(GapUserRegistered);
    subscription.unsubscribe();
    await until(async () => (await numsub('goevent:gapr.user.registered')) === 0, 'the subscription to go away');
  });

  it('app.close() drains an in-flight listener of a received event before closing the connections', async () => {
    const a = await start({ url: server.url }, []);
    const b = await start({ url: server.url }, [], { shutdownTimeoutMs: 10_000 });
    const gate = deferred();
    let started = false;
    let finished = false;
    b.bus.registerListener({
      eventName: 'gapr.drain',
      options: { async: true },
      onEvent: async () => {
        started = true;
        await gate.promise;
        finished = true;
      },
    });
    await until(async () => (await numsub('goevent:gapr.drain')) === 1, 'b subscribed');
    a.bus.dispatch('gapr.drain');
    await until(() => started, 'the listener in b to start');
    let closed = false;
    const closing = b.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(closed).toBe(false);
    gate.resolve();
    await closing;
    expect(finished).toBe(true);
  });

  it('a closing bus stops taking dispatches: events received while it drains do not start listeners', async () => {
    const a = await start({ url: server.url }, []);
    const b = await start({ url: server.url }, [], { shutdownTimeoutMs: 10_000 });
    const gate = deferred();
    const calls: number[] = [];
    b.bus.registerListener({
      eventName: 'gapr.closing',
      options: { async: true },
      onEvent: (e: { n: number }) => {
        calls.push(e.n);
        return gate.promise;
      },
    });
    // A raw subscriber on the same channel tells when Redis has delivered the later events.
    const witness = rawClient(server.url);
    clients.push(witness);
    const witnessed: string[] = [];
    witness.on('message', (_channel: string, message: string) => witnessed.push(message));
    await witness.subscribe('goevent:gapr.closing');
    await until(async () => (await numsub('goevent:gapr.closing')) === 2, 'b and the witness subscribed');

    a.bus.dispatch('gapr.closing', { n: 1 });
    await until(() => calls.length === 1, 'the first event to start in b');
    const closing = b.close();
    // Sent while b drains event 1: b's subscriber connection is still open and receives them.
    await a.bus.dispatch('gapr.closing', { n: 2 });
    await a.bus.dispatch('gapr.closing', { n: 3 });
    await until(() => witnessed.length === 3, 'Redis to deliver events 2 and 3');
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual([1]);
    gate.resolve();
    await closing;
    expect(calls).toEqual([1]);
  });
});
