import { Injectable } from '@nestjs/common';
import type Redis from 'ioredis';
import { DriverUnavailableError, OnEvent } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep, type BootedApp } from '../support/boot-app';
import { freezingProxy } from '../support/freezing-proxy';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, pendingCount, rawRedis, until } from '../support/streams-test-app';

@Injectable()
class Plain {
  readonly seen: unknown[] = [];
  @OnEvent('plain.thing')
  handle(event: unknown) {
    this.seen.push(event);
  }
}

/** Idle time (ms) of one pending entry. */
async function idleOf(redis: Redis, key: string, group: string, id: string): Promise<number | undefined> {
  const rows = (await redis.call('XPENDING', key, group, id, id, 1)) as Array<[string, string, number, number]>;
  return rows.length === 0 ? undefined : Number(rows[0][2]);
}

describe('redis-streams: acks and appends across a dropped command connection', () => {
  let server: RedisServer;
  let redis: Redis;
  const apps: BootedApp[] = [];
  const boot = async (...args: Parameters<typeof bootStreamsApp>): Promise<BootedApp> => {
    const app = await bootStreamsApp(...args);
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    // `app` may do everything but XACK (to hold acks back while every other command works).
    server = await RedisServer.start({ config: ['user noack on >pw ~* &* +@all -xack'] });
    redis = rawRedis(server.url);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    redis?.disconnect();
    await server?.destroy();
  });

  it('an XACK lost with its connection is sent again as soon as the connection is back, not after publishTimeoutMs', async () => {
    const proxy = await freezingProxy(server.port);
    try {
      const prefix = freshPrefix('ack');
      const app = await boot(
        { providers: [Plain] },
        { url: `redis://127.0.0.1:${proxy.port}`, prefix, streams: { group: 'svc' }, redis: { publishTimeoutMs: 8000 } },
      );
      const sender = await boot({}, { url: server.url, prefix });
      const plain = app.app.get(Plain);
      const stream = `${prefix}plain.thing`;
      const group = 'svc:Plain.handle';
      await sender.bus.dispatch('plain.thing', 'before');
      await until(async () => plain.seen.length === 1 && (await pendingCount(redis, stream, group)) === 0, 5000, 'the first ack');

      // The XACK of 'during' is written and never answered; then the connection drops.
      proxy.freezeCommand();
      await sender.bus.dispatch('plain.thing', 'during');
      await until(() => plain.seen.includes('during'), 5000, "'during' to be handled");
      await sleep(200);
      expect(await pendingCount(redis, stream, group)).toBe(1);
      proxy.dropCommand();
      const dropped = Date.now();
      // Sent again on the new connection at once; acks of later entries do not queue behind it either.
      await until(async () => (await pendingCount(redis, stream, group)) === 0, 3000, 'the lost ack to be sent again');
      await sender.bus.dispatch('plain.thing', 'after');
      await until(async () => plain.seen.includes('after') && (await pendingCount(redis, stream, group)) === 0, 3000, 'the next ack');
      expect(Date.now() - dropped).toBeLessThan(4000);
      expect(plain.seen).toEqual(['before', 'during', 'after']);
    } finally {
      await proxy.close();
    }
  });

  it('an append in flight when the connection drops fails at once, says it was not confirmed, and is never sent later', async () => {
    const proxy = await freezingProxy(server.port);
    try {
      const prefix = freshPrefix('add');
      const app = await boot({}, { url: `redis://127.0.0.1:${proxy.port}`, prefix, redis: { publishTimeoutMs: 8000 } });
      expect((await app.bus.dispatch('plain.thing', 'warm-up')).errors).toEqual([]);
      proxy.freezeCommand();
      const started = Date.now();
      const pending = app.bus.dispatch('plain.thing', 'in-flight');
      await sleep(200);
      proxy.dropCommand();
      const { errors } = await pending;
      expect(Date.now() - started).toBeLessThan(2000);
      expect(errors).toHaveLength(1);
      expect(errors[0].listener).toBe('publisher');
      expect(errors[0].cause).toBeInstanceOf(DriverUnavailableError);
      expect(errors[0].message).toMatch(/closed before Redis confirmed the append; it was not retried and may still have been appended/);
      await until(async () => (await app.bus.dispatch('plain.thing', 'after')).errors.length === 0, 5000, 'appends to work again');
      await sleep(300);
      const entries = (await redis.xrange(`${prefix}plain.thing`, '-', '+')) as Array<[string, string[]]>;
      const sent = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('envelope') + 1]).event_data);
      expect(sent).toEqual(['warm-up', 'after']);
    } finally {
      await proxy.close();
    }
  });

  it('an entry whose ack Redis refuses stays fresh (heartbeat): another replica never reclaims and runs it again', async () => {
    const prefix = freshPrefix('fresh');
    const url = `redis://noack:pw@127.0.0.1:${server.port}`;
    const claimIdleMs = 600;
    const first = await boot({ providers: [Plain] }, { url, prefix, streams: { group: 'svc', claimIdleMs } });
    const sender = await boot({}, { url: server.url, prefix });
    await sender.bus.dispatch('plain.thing', 'once');
    await until(() => first.app.get(Plain).seen.length === 1, 5000, 'the first replica to handle it');
    // Its XACK keeps failing (NOPERM) while every other command works; a second replica looks for idle entries.
    const second = await boot({ providers: [Plain] }, { url, prefix, streams: { group: 'svc', claimIdleMs } });
    const stream = `${prefix}plain.thing`;
    const group = 'svc:Plain.handle';
    const [[id]] = (await redis.xrange(stream, '-', '+')) as Array<[string, string[]]>;
    let maxIdle = 0;
    for (const until = Date.now() + 4 * claimIdleMs; Date.now() < until;) {
      maxIdle = Math.max(maxIdle, (await idleOf(redis, stream, group, id)) ?? 0);
      await sleep(50);
    }
    expect(maxIdle).toBeLessThan(claimIdleMs);
    expect(second.app.get(Plain).seen).toEqual([]);
    expect(first.app.get(Plain).seen).toEqual(['once']);
    // Allowed again: the ack goes through.
    await redis.call('ACL', 'SETUSER', 'noack', '+xack');
    try {
      await until(async () => (await pendingCount(redis, stream, group)) === 0, 5000, 'the ack once allowed');
    } finally {
      await redis.call('ACL', 'SETUSER', 'noack', '-xack');
    }
    expect(second.app.get(Plain).seen).toEqual([]);
  });
});
