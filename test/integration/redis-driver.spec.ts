import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { DomainEvent, DriverUnavailableError, EventError, EventTooLargeError, MessageRejectedError, OnEvent } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';
import { rawClient, rawSubscriber, startRedisApp, until, type RedisTestApp } from '../support/redis-test-app';

@DomainEvent('user.registered')
class UserRegistered {
  constructor(readonly userId: string) {}
}

@DomainEvent('order.created')
class OrderCreated {
  order_id!: string;
}

@DomainEvent('order.created', { type: 'order.created.v2' })
class OrderCreatedV2 {
  constructor(
    readonly orderId: string,
    readonly total: number,
  ) {}
}

/** Rebuilt through fromJSON: a Date and a nested class survive the trip. */
class Address {
  constructor(readonly city: string) {}
  label(): string {
    return `city:${this.city}`;
  }
}

@DomainEvent('shipment.sent')
class ShipmentSent {
  constructor(
    readonly at: Date,
    readonly to: Address,
  ) {}
  toJSON(): unknown {
    return { at: this.at.toISOString(), to: { city: this.to.city } };
  }
  static fromJSON(data: { at: string; to: { city: string } }): ShipmentSent {
    return new ShipmentSent(new Date(data.at), new Address(data.to.city));
  }
}

interface Seen {
  listener: string;
  event: unknown;
}

@Injectable()
class Recorder {
  readonly seen: Seen[] = [];
  of(listener: string): unknown[] {
    return this.seen.filter((s) => s.listener === listener).map((s) => s.event);
  }
  @OnEvent(UserRegistered)
  onUser(event: UserRegistered) {
    this.seen.push({ listener: 'user', event });
  }
  @OnEvent('order.created')
  onOrder(event: unknown) {
    this.seen.push({ listener: 'order', event });
  }
  @OnEvent(ShipmentSent, { async: true })
  async onShipment(event: ShipmentSent) {
    this.seen.push({ listener: 'shipment', event });
  }
  @OnEvent('user.*')
  onAnyUser(event: unknown) {
    this.seen.push({ listener: 'user.*', event });
  }
  @OnEvent('audit.**')
  onAudit(event: unknown) {
    this.seen.push({ listener: 'audit.**', event });
  }
  @OnEvent('marker')
  onMarker(event: unknown) {
    this.seen.push({ listener: 'marker', event });
  }
}

const GOEVENT_ENVELOPE = JSON.stringify({
  event_name: 'order.created',
  event_type: 'order.created',
  event_data: { order_id: '123' },
  handle_id: '3f9c1a7b2e4d5c60',
  timestamp: 1767225600,
});

describe.each([2, 3] as const)('redis driver over RESP%i', (protocol) => {
  let server: RedisServer;
  let admin: Redis;
  const apps: RedisTestApp[] = [];
  const clients: Redis[] = [];

  const start = async (...args: Parameters<typeof startRedisApp>) => {
    const app = await startRedisApp({ protocol, retryStrategy: () => 50, ...args[0] }, args[1] ?? [Recorder], args[2]);
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    server = await RedisServer.start();
    admin = rawClient(server.url);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    for (const c of clients.splice(0)) c.disconnect();
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.destroy();
  });

  const numsub = async (channel: string): Promise<number> => {
    const reply = (await admin.pubsub('NUMSUB', channel)) as [string, number];
    return Number(reply[1]);
  };

  it('two apps in one process are two buses: each hears the other, typed, and never its own echo', async () => {
    const a = await start({ url: server.url });
    const b = await start({ url: server.url });
    const ra = a.get(Recorder);
    const rb = b.get(Recorder);

    const handle = a.bus.dispatch(new UserRegistered('u1'));
    // Sync listeners of the publishing app ran inline, as on the memory driver.
    expect(ra.of('user')).toHaveLength(1);
    const result = await handle;
    expect(result.errors).toEqual([]);
    expect(result.id).toMatch(/^[0-9a-f]{16}$/);

    await until(() => rb.of('user').length === 1, 'app b to receive u1');
    const received = rb.of('user')[0];
    expect(received).toBeInstanceOf(UserRegistered);
    expect(received).toEqual(new UserRegistered('u1'));
    // Wildcard listener in b got it too, exactly once.
    expect(rb.of('user.*')).toHaveLength(1);

    // b answers; a gets b's event after its own echo would have arrived (Redis keeps channel order).
    b.bus.dispatch(new UserRegistered('u2'));
    await until(() => ra.of('user').length === 2, 'app a to receive u2');
    expect(ra.of('user').map((e) => (e as UserRegistered).userId)).toEqual(['u1', 'u2']);
    expect(ra.of('user.*').map((e) => (e as UserRegistered).userId)).toEqual(['u1', 'u2']);
    expect(rb.of('user').map((e) => (e as UserRegistered).userId)).toEqual(['u1', 'u2']);
    expect(a.errors).toEqual([]);
    expect(b.errors).toEqual([]);
  });

  it('sends the events dispatched in one tick in one socket write (no round trip per event), in order', async () => {
    const a = await start({ url: server.url });
    const b = await start({ url: server.url });
    const got: number[] = [];
    b.bus.registerListener({ eventName: 'bulk.event', onEvent: (e: { i: number }) => void got.push(e.i) });
    await until(async () => (await numsub('goevent:bulk.event')) === 1, 'the bulk subscription');
    // Count what a's publisher connection hands to its socket: one write of many chunks, or one write each.
    const socket = (a.bus.getDriver() as unknown as { publishing: { client: Redis } }).publishing.client.stream as unknown as {
      _write(...args: unknown[]): void;
      _writev(...args: unknown[]): void;
    };
    const write = socket._write.bind(socket);
    const writev = socket._writev.bind(socket);
    let writes = 0;
    socket._write = (...args) => {
      writes++;
      write(...args);
    };
    socket._writev = (...args) => {
      writes++;
      writev(...args);
    };
    const handles = Array.from({ length: 500 }, (_, i) => a.bus.dispatch('bulk.event', { i }));
    const results = await Promise.all(handles);
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    expect(writes).toBe(1);
    await until(() => got.length === 500, 'all 500 events in b');
    expect(got).toEqual(Array.from({ length: 500 }, (_, i) => i));
  });

  it('rebuilds typed events across apps: versioned type keys and fromJSON', async () => {
    const a = await start({ url: server.url });
    const b = await start({ url: server.url });
    const rb = b.get(Recorder);
    const raw = await rawSubscriber(server.url, 'goevent:order.created');
    clients.push(raw.client);

    await a.bus.dispatch(new OrderCreatedV2('o1', 42));
    await a.bus.dispatch(new ShipmentSent(new Date('2026-01-02T03:04:05.000Z'), new Address('Oslo')));
    await until(() => rb.of('order').length === 1 && rb.of('shipment').length === 1, 'typed events in b');

    const order = rb.of('order')[0];
    expect(order).toBeInstanceOf(OrderCreatedV2);
    expect(order).toEqual(new OrderCreatedV2('o1', 42));
    await until(() => raw.messages.length === 1, 'raw copy of the order');
    expect(JSON.parse(raw.messages[0]).event_type).toBe('order.created.v2');

    const shipment = rb.of('shipment')[0] as ShipmentSent;
    expect(shipment).toBeInstanceOf(ShipmentSent);
    expect(shipment.at).toBeInstanceOf(Date);
    expect(shipment.at.toISOString()).toBe('2026-01-02T03:04:05.000Z');
    expect(shipment.to.label()).toBe('city:Oslo');
  });

  it('interoperates with goevent both ways', async () => {
    const a = await start({ url: server.url });
    const ra = a.get(Recorder);

    // goevent -> this package: goevent's exact envelope on goevent:order.created reaches a typed listener.
    const publisher = rawClient(server.url);
    clients.push(publisher);
    expect(await publisher.publish('goevent:order.created', GOEVENT_ENVELOPE)).toBe(1);
    await until(() => ra.of('order').length === 1, 'the goevent message');
    const order = ra.of('order')[0] as OrderCreated;
    expect(order).toBeInstanceOf(OrderCreated);
    expect(order.order_id).toBe('123');

    // this package -> goevent: the five goevent fields with goevent's types.
    const raw = await rawSubscriber(server.url, 'goevent:user.registered');
    clients.push(raw.client);
    const before = Math.floor(Date.now() / 1000);
    const { id } = await a.bus.dispatch(new UserRegistered('u9'));
    await until(() => raw.messages.length === 1, 'the raw copy');
    const message = JSON.parse(raw.messages[0]) as Record<string, unknown>;
    expect(typeof message.event_name).toBe('string');
    expect(message.event_name).toBe('user.registered');
    expect(typeof message.event_type).toBe('string');
    expect(message.event_type).toBe('user.registered');
    expect(message.event_data).toEqual({ userId: 'u9' });
    expect(typeof message.event_data === 'object' && !Array.isArray(message.event_data)).toBe(true);
    expect(message.handle_id).toMatch(/^[0-9a-f]{16}$/);
    expect(message.handle_id).toBe(id);
    expect(Number.isInteger(message.timestamp)).toBe(true);
    expect(message.timestamp as number).toBeGreaterThanOrEqual(before);
    expect(message.timestamp as number).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  });

  it('refuses an oversize event before anything is sent or run', async () => {
    const a = await start({ url: server.url, maxEventSize: 300 });
    const ra = a.get(Recorder);
    const raw = await rawSubscriber(server.url, 'goevent:user.registered');
    clients.push(raw.client);

    const handle = a.bus.dispatch(new UserRegistered('x'.repeat(400)));
    const { errors } = await handle;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EventError);
    expect(errors[0].listener).toBe('publisher');
    expect(errors[0].cause).toBeInstanceOf(EventTooLargeError);
    expect((errors[0].cause as Error).message).toMatch(/\d+ bytes/);
    expect((errors[0].cause as Error).message).toContain('300');
    expect(ra.of('user')).toEqual([]);
    expect(ra.of('user.*')).toEqual([]);

    // A small event sent afterwards is the first thing on the channel.
    await a.bus.dispatch(new UserRegistered('small'));
    await until(() => raw.messages.length === 1, 'the small event');
    expect(JSON.parse(raw.messages[0]).event_data).toEqual({ userId: 'small' });
  });

  it('rejects unusable messages on errors$, counts them, skips them and keeps the subscription', async () => {
    const a = await start({ url: server.url, maxEventSize: 2048 }, [Recorder], { strictTypes: true });
    const ra = a.get(Recorder);
    const publisher = rawClient(server.url);
    clients.push(publisher);
    const channel = 'goevent:user.registered';
    const envelope = (data: string, type = 'user.registered') =>
      `{"event_name":"user.registered","event_type":"${type}","event_data":${data},"handle_id":"0123456789abcdef","timestamp":1767225600}`;
    const bad = [
      ['not json {', /malformed JSON/],
      [envelope('{"userId":"t"}', 'order.created.v2'), /event_type 'order.created.v2' is registered for event 'order.created'/],
      [envelope('"just text"'), /must be a JSON object \(got a string\)/],
      [envelope('{"userId":"s","toString":"x"}'), /forbidden key 'toString'/],
      [envelope('{"userId":"d","n":' + '['.repeat(70) + ']'.repeat(70) + '}'), /deeper than 64 levels/],
      [envelope(`{"userId":"${'x'.repeat(3000)}"}`), /size limit/],
      [envelope('{"__proto__":{"polluted":"yes"},"userId":"p"}'), /__proto__/],
      [envelope('{"constructor":{"prototype":{"polluted":"yes"}},"userId":"c"}'), /constructor/],
      [envelope('{"nested":{"prototype":{"polluted":"yes"}},"userId":"q"}'), /prototype/],
    ] as const;
    for (const [payload] of bad) await publisher.publish(channel, payload);
    await publisher.publish(channel, envelope('{"userId":"good"}'));

    await until(() => ra.of('user').length === 1, 'the good message');
    expect(ra.of('user')[0]).toEqual(new UserRegistered('good'));
    expect(a.errors).toHaveLength(bad.length);
    for (const [i, [payload, reason]] of bad.entries()) {
      const error = a.errors[i];
      expect(error).toBeInstanceOf(EventError);
      expect(error.listener).toBe('subscriber');
      expect(error.cause).toBeInstanceOf(MessageRejectedError);
      const cause = error.cause as MessageRejectedError;
      expect(cause.channel).toBe(channel);
      expect(cause.size).toBe(Buffer.byteLength(payload));
      expect(cause.reason).toMatch(reason);
    }
    expect(a.bus.stats().rejectedMessages).toBe(bad.length);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('wildcard listeners receive across apps through pattern subscriptions, filtered exactly', async () => {
    const a = await start({ url: server.url });
    const b = await start({ url: server.url });
    const rb = b.get(Recorder);
    // user.* and audit.** are one pattern subscription each on each app's subscriber connection.
    const subscribers = ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('name=nestjs-event-bus:subscriber'));
    expect(subscribers.filter((l) => / psub=2 /.test(l))).toHaveLength(2);

    a.bus.dispatch('user.deleted', { userId: 'd1' });
    a.bus.dispatch('user.deep.nested', { userId: 'n1' }); // 'user.*' is one segment: must not match
    a.bus.dispatch('audit.login.failed', { who: 'x' }); // 'audit.**' any depth
    a.bus.dispatch('audit.logout', { who: 'y' });
    a.bus.dispatch('marker', { n: 1 });
    await until(() => rb.of('marker').length === 1, 'the marker');
    expect(rb.of('user.*')).toEqual([{ userId: 'd1' }]);
    expect(rb.of('audit.**')).toEqual([{ who: 'x' }, { who: 'y' }]);
    expect(rb.of('user')).toEqual([]);
  });

  it('unregisterListenersForEvent drops the Redis subscription; listeners can come back', async () => {
    const a = await start({ url: server.url });
    const b = await start({ url: server.url });
    const got: unknown[] = [];
    const listener = { eventName: 'temp.event', onEvent: (e: unknown) => void got.push(e) };
    b.bus.registerListener(listener);
    await until(async () => (await numsub('goevent:temp.event')) === 1, 'the subscription of temp.event');
    a.bus.dispatch('temp.event', { n: 1 });
    await until(() => got.length === 1, 'the first temp event');

    await b.bus.unregisterListenersForEvent('temp.event');
    expect(await numsub('goevent:temp.event')).toBe(0);
    await b.bus.unregisterListenersForEvent('temp.event'); // idempotent

    b.bus.registerListener(listener);
    await until(async () => (await numsub('goevent:temp.event')) === 1, 'the subscription again');
    a.bus.dispatch('temp.event', { n: 2 });
    await until(() => got.length === 2, 'the second temp event');
    expect(got).toEqual([{ n: 1 }, { n: 2 }]);

    // Patterns too.
    const patterns = async () => Number(await admin.pubsub('NUMPAT'));
    const before = await patterns();
    b.bus.registerListener({ eventName: 'temp.**', onEvent: () => undefined });
    await until(async () => (await patterns()) === before + 1, 'the pattern subscription');
    await b.bus.unregisterListenersForEvent('temp.**');
    expect(await patterns()).toBe(before);
  });

  it('uses a client the user passes, and leaves it open on app.close()', async () => {
    const client = rawClient(server.url, { protocol });
    clients.push(client);
    await client.ping();
    const a = await start({ client });
    const b = await start({ url: server.url });
    await a.bus.dispatch(new UserRegistered('from-client'));
    await until(() => b.get(Recorder).of('user').length === 1, 'the event from the client app');
    b.bus.dispatch(new UserRegistered('to-client'));
    await until(() => a.get(Recorder).of('user').length === 2, 'the event to the client app');

    const named = async () =>
      ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('name=nestjs-event-bus:')).length;
    expect(await named()).toBe(4); // two duplicates of the user's client, two connections of b

    await a.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    expect(await client.set('neb:still-usable', '1')).toBe('OK');
    // The module's duplicates are gone; the user's client stays.
    await until(async () => (await named()) === 2, 'the duplicates to close');
  });

  it('closes its connections on app.close(), and a closed bus refuses to publish', async () => {
    const a = await start({ url: server.url });
    const named = async () =>
      ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('name=nestjs-event-bus:')).length;
    const before = await named();
    expect(before).toBeGreaterThanOrEqual(2);
    await a.close();
    await until(async () => (await named()) === before - 2, 'the two connections of the app to close');
    const { errors } = await a.bus.dispatch(new UserRegistered('late'));
    expect(errors[0].listener).toBe('publisher');
  });

  it('fails start-up with a clear error when Redis is unreachable', async () => {
    const dead = await RedisServer.start();
    const url = dead.url;
    await dead.destroy();
    const failed = startRedisApp({ url, protocol, retryStrategy: () => 50 }, []);
    await expect(failed).rejects.toBeInstanceOf(DriverUnavailableError);
    await expect(failed).rejects.toThrow(/cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+/);
  });
});
