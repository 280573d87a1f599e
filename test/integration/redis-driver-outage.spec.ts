import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { DomainEvent, DriverUnavailableError, EventError, OnEvent, SubscriberDisconnectedError } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer, sleep } from '../support/redis-server';
import { rawClient, startRedisApp, until, type RedisTestApp } from '../support/redis-test-app';

@DomainEvent('user.registered')
class UserRegistered {
  constructor(readonly userId: string) {}
}

@Injectable()
class Recorder {
  readonly users: string[] = [];
  readonly wildcard: string[] = [];
  readonly markers: number[] = [];
  @OnEvent(UserRegistered)
  onUser(event: UserRegistered) {
    this.users.push(event.userId);
  }
  @OnEvent('user.*', { async: true })
  onAnyUser(event: UserRegistered) {
    this.wildcard.push(event.userId);
  }
  @OnEvent('marker')
  onMarker(event: { n: number }) {
    this.markers.push(event.n);
  }
}

describe.each([2, 3] as const)('redis driver outages over RESP%i', (protocol) => {
  let server: RedisServer;
  let admin: Redis;
  const apps: RedisTestApp[] = [];

  const start = async (options: Record<string, unknown> = {}) => {
    const app = await startRedisApp({ url: server.url, protocol, retryStrategy: () => 50, ...options }, [Recorder]);
    apps.push(app);
    return app;
  };
  /** Both apps' subscriber connections hold the channel and the pattern again. */
  const resubscribed = async (apps: number) => {
    try {
      const [, n] = (await admin.pubsub('NUMSUB', 'goevent:user.registered')) as [string, number];
      const list = (await admin.client('LIST')) as string;
      const withPattern = list.split('\n').filter((l) => l.includes('name=nestjs-event-bus:subscriber') && / psub=1 /.test(l)).length;
      return Number(n) === apps && withPattern === apps;
    } catch {
      return false;
    }
  };
  /** Waits until the app's publisher connection has noticed that Redis is gone. */
  const noticedOutage = (app: RedisTestApp) =>
    until(
      () => (app.bus.getDriver() as unknown as { publishing: { client: Redis } }).publishing.client.status !== 'ready',
      'the publisher to notice the outage',
    );
  /** A marker sent after an event proves by ordering that the event was not delivered. */
  const marker = async (from: RedisTestApp, to: RedisTestApp, n: number) => {
    const { errors } = await from.bus.dispatch('marker', { n });
    expect(errors).toEqual([]);
    await until(() => to.get(Recorder).markers.includes(n), `marker ${n}`);
  };

  beforeAll(async () => {
    server = await RedisServer.start();
    admin = rawClient(server.url);
  });
  afterEach(async () => {
    if (!server.running) await server.launch();
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.destroy();
  });

  it('resubscribes by itself after redis-server is killed and restarted on the same port', async () => {
    const a = await start();
    const b = await start();
    await server.kill();
    await sleep(200);
    await server.launch();
    await until(() => resubscribed(2), 'both apps to resubscribe', 15_000);

    const { errors } = await a.bus.dispatch(new UserRegistered('after-restart'));
    expect(errors).toEqual([]);
    await until(() => b.get(Recorder).users.length === 1 && b.get(Recorder).wildcard.length === 1, 'b to receive');
    expect(b.get(Recorder).users).toEqual(['after-restart']);
    expect(b.get(Recorder).wildcard).toEqual(['after-restart']);
    expect(a.get(Recorder).users).toEqual(['after-restart']);
    // The outage itself is one error (events published meanwhile were missed), naming the restart.
    expect(b.errors).toHaveLength(1);
    expect(b.errors[0].cause).toBeInstanceOf(SubscriberDisconnectedError);
    expect((b.errors[0].cause as SubscriberDisconnectedError).reason).toMatch(/^Redis went away \(reconnecting failed: .*ECONNREFUSED/);
    expect(b.bus.stats().subscriberDisconnects).toBe(1);
    expect(b.bus.stats().rejectedMessages).toBe(0);
  });

  it('listeners registered or removed while Redis is down take effect on Redis when it is back', async () => {
    const a = await start();
    const b = await start({ publishTimeoutMs: 300 });
    const late: unknown[] = [];
    await server.kill();
    b.bus.registerListener({ eventName: 'late.event', onEvent: (e: unknown) => void late.push(e) });
    await b.bus.unregisterListenersForEvent(UserRegistered); // resolves despite the outage (bounded)
    await sleep(400); // past b's publishTimeoutMs: the queued (un)subscriptions must survive that
    await server.launch();
    await until(
      async () => {
        const [, late, , users] = (await admin.pubsub('NUMSUB', 'goevent:late.event', 'goevent:user.registered')) as [
          string,
          number,
          string,
          number,
        ];
        return Number(late) === 1 && Number(users) === 1;
      },
      'late.event subscribed by b, user.registered by a only',
      15_000,
    );
    await until(async () => (await a.bus.dispatch('late.event', { n: 1 })).errors.length === 0, 'a to publish again', 15_000);
    await until(() => late.length >= 1, 'b to receive late.event');
    expect(late[0]).toEqual({ n: 1 });
    // One forced disconnect; no other receive error.
    expect(b.errors.filter((e) => e.listener === 'subscriber').map((e) => (e.cause as Error).name)).toEqual([
      'SubscriberDisconnectedError',
    ]);
  });

  it('fails a dispatch made while Redis is down with a typed publisher error by publishTimeoutMs, and never sends it later', async () => {
    const a = await start({ publishTimeoutMs: 500, commandTimeout: 100 });
    const b = await start();
    await server.kill();
    await noticedOutage(a);
    const started = Date.now();
    const handle = a.bus.dispatch(new UserRegistered('during-outage'));
    // The publishing app's own listeners ran (in-process), as the contract says.
    expect(a.get(Recorder).users).toEqual(['during-outage']);
    const { errors } = await handle;
    const elapsed = Date.now() - started;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EventError);
    expect(errors[0].listener).toBe('publisher');
    expect(errors[0].cause).toBeInstanceOf(DriverUnavailableError);
    expect((errors[0].cause as Error).message).toMatch(/publishTimeoutMs \(500 ms\)/);
    // Bounded: it did not wait for Redis to come back (generous bound for a loaded machine).
    expect(elapsed).toBeLessThan(500 + 4_000);
    expect(a.errors.filter((e) => e.listener === 'publisher')).toHaveLength(1);
    expect(a.bus.stats().publishErrors).toBe(1);

    await server.launch();
    await until(() => resubscribed(2), 'both apps to resubscribe', 15_000);
    await marker(a, b, 1);
    // Give a late send every chance to show up after the marker too.
    await sleep(300);
    await marker(a, b, 2);
    expect(b.get(Recorder).users).toEqual([]);
    expect(b.get(Recorder).wildcard).toEqual([]);
  });

  it('delivers a dispatch made during a short outage once Redis is back within publishTimeoutMs, exactly once', async () => {
    // a reconnects slowly, b quickly: b's subscriptions are back before a's held publish goes out.
    const a = await start({ publishTimeoutMs: 10_000, retryStrategy: () => 1_500 });
    const b = await start();
    await server.kill();
    await noticedOutage(a);
    const handle = a.bus.dispatch(new UserRegistered('held'));
    await sleep(300);
    expect(handle.settled).toBe(false);
    await server.launch();
    const { errors } = await handle;
    expect(errors).toEqual([]);
    await until(() => b.get(Recorder).users.length === 1, 'b to receive the held event');
    await marker(a, b, 3);
    expect(b.get(Recorder).users).toEqual(['held']);
    expect(b.get(Recorder).wildcard).toEqual(['held']);
    expect(a.get(Recorder).users).toEqual(['held']);
  });

  it('fails start-up within connectTimeout when Redis accepts connections but never answers', async () => {
    process.kill(server.pid!, 'SIGSTOP');
    try {
      await expect(start({ connectTimeout: 500 })).rejects.toThrow(/not ready within connectTimeout \(500 ms\)/);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
  });

  it('fails publishes in flight when the connection dies, and publishes again after the restart', async () => {
    const a = await start({ publishTimeoutMs: 10_000 });
    const b = await start();
    // Stop the server so the publishes are written but unanswered, then kill it.
    process.kill(server.pid!, 'SIGSTOP');
    const handles = [1, 2, 3].map((n) => a.bus.dispatch(new UserRegistered(`lost${n}`)));
    await sleep(100);
    await server.kill();
    const results = await Promise.all(handles);
    for (const { errors } of results) {
      expect(errors).toHaveLength(1);
      expect(errors[0].cause).toBeInstanceOf(DriverUnavailableError);
      expect((errors[0].cause as Error).message).toMatch(
        /was not confirmed.*It is not resent; it may still have been delivered once \(at-most-once\)\.$/,
      );
    }
    await server.launch();
    await until(() => resubscribed(2), 'both apps to resubscribe', 15_000);
    const { errors } = await a.bus.dispatch(new UserRegistered('after'));
    expect(errors).toEqual([]);
    await until(() => b.get(Recorder).users.includes('after'), 'the event after the restart');
    expect(b.get(Recorder).users.filter((u) => u.startsWith('lost')).length).toBeLessThanOrEqual(3);
    expect(b.get(Recorder).users.filter((u) => u === 'after')).toHaveLength(1);
  });

  // A stalled server (SIGSTOP) has the PUBLISH in its socket buffer already; no client can take it back.
  // The driver fails it by the deadline, resets its connection (dropping anything not yet sent), never
  // sends it again, and works again once the server does: the event arrives at most once.
  it('a publish stalled after earlier ones were confirmed fails at its own deadline, not at one left from them', async () => {
    const a = await start({ publishTimeoutMs: 600 });
    // Confirmed at once: nothing is in flight afterwards, while the deadline timer armed for it is still set.
    expect((await a.bus.dispatch(new UserRegistered('confirmed'))).errors).toEqual([]);
    await sleep(300);
    process.kill(server.pid!, 'SIGSTOP');
    try {
      const started = Date.now();
      const { errors } = await a.bus.dispatch(new UserRegistered('stalled-later'));
      const elapsed = Date.now() - started;
      expect(errors.map((e) => e.cause)).toEqual([expect.any(DriverUnavailableError)]);
      // The first publish's deadline passed ~300 ms into this one: it must not have failed this one early.
      expect(elapsed).toBeGreaterThanOrEqual(580);
      expect(elapsed).toBeLessThan(600 + 4_000);
    } finally {
      process.kill(server.pid!, 'SIGCONT');
    }
    await until(() => resubscribed(1), 'the app connected again', 15_000);
  });

  it('fails a publish a stalled Redis never answered by publishTimeoutMs, never resends it, and recovers', async () => {
    const a = await start({ publishTimeoutMs: 400 });
    const b = await start();
    process.kill(server.pid!, 'SIGSTOP');
    let resumed = false;
    try {
      const { errors } = await a.bus.dispatch(new UserRegistered('stalled'));
      expect(errors).toHaveLength(1);
      expect(errors[0].cause).toBeInstanceOf(DriverUnavailableError);
      // "Failed" means "not confirmed": the server may have read it before it stalled.
      expect((errors[0].cause as Error).message).toMatch(
        /^redis driver: the PUBLISH on 'goevent:user\.registered' was not confirmed (within publishTimeoutMs \(400 ms\)|: the connection to Redis closed before Redis answered \(within publishTimeoutMs, 400 ms\))\. It is not resent; it may still have been delivered once \(at-most-once\)\.$/,
      );
      process.kill(server.pid!, 'SIGCONT');
      resumed = true;
      await until(() => resubscribed(2), 'both apps connected', 15_000);
      await until(
        async () =>
          ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('name=nestjs-event-bus:publisher')).length === 2,
        'publishers back',
      );
      await marker(a, b, 5);
      await sleep(300);
      await marker(a, b, 6);
      expect(b.get(Recorder).users.length).toBeLessThanOrEqual(1);
    } finally {
      if (!resumed) process.kill(server.pid!, 'SIGCONT');
    }
  });
});
