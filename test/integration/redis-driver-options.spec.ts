import { readFileSync } from 'node:fs';
import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type Redis from 'ioredis';
import { DomainEvent, EventBus, EventBusModule, OnEvent } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';
import { rawClient, rawSubscriber, startRedisApp, until, type RedisTestApp } from '../support/redis-test-app';

@DomainEvent('user.registered')
class UserRegistered {
  constructor(readonly userId: string) {}
}

@Injectable()
class Recorder {
  readonly users: string[] = [];
  readonly wildcard: string[] = [];
  @OnEvent(UserRegistered)
  onUser(event: UserRegistered) {
    this.users.push(event.userId);
  }
  @OnEvent('user.**')
  onAnyUser(event: UserRegistered) {
    this.wildcard.push(event.userId);
  }
}

/**
 * An ACL user that may only use the goevent: channels (and no dangerous commands). Redis checks
 * PSUBSCRIBE patterns literally against the ACL, so a wildcard listener's glob is listed too.
 */
const ACL = ['user app on >app-secret resetchannels &goevent:* &goevent:user.* +@all -@dangerous'];

describe.each([2, 3] as const)('redis driver options over RESP%i', (protocol) => {
  let server: RedisServer;
  let admin: Redis;
  const apps: RedisTestApp[] = [];
  const clients: Redis[] = [];

  const start = async (redis: Record<string, unknown>, extra = {}) => {
    const app = await startRedisApp({ protocol, retryStrategy: () => 50, ...redis }, [Recorder], extra);
    apps.push(app);
    return app;
  };
  /** a dispatches, b receives (typed, exactly once on each listener). */
  const exchange = async (a: RedisTestApp, b: RedisTestApp, userId: string) => {
    const { errors } = await a.bus.dispatch(new UserRegistered(userId));
    expect(errors).toEqual([]);
    await until(() => b.get(Recorder).users.includes(userId) && b.get(Recorder).wildcard.includes(userId), `${userId} in b`);
    expect(b.get(Recorder).users.filter((u) => u === userId)).toHaveLength(1);
    expect(b.get(Recorder).wildcard.filter((u) => u === userId)).toHaveLength(1);
  };
  const clientList = async () => ((await admin.client('LIST')) as string).split('\n').filter((l) => l.includes('name=nestjs-event-bus:'));

  beforeAll(async () => {
    server = await RedisServer.start({ tls: true, config: ACL });
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

  it('connects by url and by host/port', async () => {
    const a = await start({ url: server.url });
    const b = await start({ host: '127.0.0.1', port: server.port });
    await exchange(a, b, 'url-to-host');
    await exchange(b, a, 'host-to-url');
  });

  it('authenticates as an ACL user restricted to the prefix channels (url credentials or options)', async () => {
    const a = await start({ url: `redis://app:app-secret@127.0.0.1:${server.port}` });
    const b = await start({ host: '127.0.0.1', port: server.port, username: 'app', password: 'app-secret' });
    await exchange(a, b, 'acl-1');
    await exchange(b, a, 'acl-2');
    const users = (await clientList()).map((l) => /user=(\S+)/.exec(l)?.[1]);
    expect(users.filter((u) => u === 'app')).toHaveLength(4);

    // The user really is restricted: another prefix is refused, so start-up fails and says why.
    await expect(start({ url: `redis://app:app-secret@127.0.0.1:${server.port}`, channelPrefix: 'other:' })).rejects.toThrow(
      /NOPERM|permission/i,
    );
  });

  it('selects db', async () => {
    const a = await start({ url: server.url, db: 3 });
    const b = await start({ url: `${server.url}/5` });
    await exchange(a, b, 'db'); // pub/sub is not per database
    const dbs = (await clientList()).map((l) => /db=(\d+)/.exec(l)?.[1]);
    expect(dbs.filter((d) => d === '3')).toHaveLength(2);
    expect(dbs.filter((d) => d === '5')).toHaveLength(2);
  });

  it('connects over TLS with tls options and with rediss://', async () => {
    const ca = readFileSync(server.tlsFiles!.ca);
    const a = await start({ host: '127.0.0.1', port: server.tlsPort, tls: { ca } });
    const b = await start({ url: `rediss://localhost:${server.tlsPort}`, tls: { ca } });
    const c = await start({ url: server.url });
    await exchange(a, b, 'tls-1');
    await exchange(b, c, 'tls-2');
    await exchange(c, a, 'tls-3');
    // A TLS port refuses a plain connection: start-up fails rather than hanging.
    await expect(start({ host: '127.0.0.1', port: server.tlsPort, connectTimeout: 1_000, retryStrategy: () => null })).rejects.toThrow(
      /cannot connect/,
    );
  });

  it('uses channelPrefix for channels and patterns', async () => {
    const a = await start({ url: server.url, channelPrefix: 'svc:' });
    const b = await start({ url: server.url, channelPrefix: 'svc:' });
    const other = await start({ url: server.url }); // goevent: prefix: a different namespace
    const raw = await rawSubscriber(server.url, 'svc:user.registered');
    clients.push(raw.client);
    await exchange(a, b, 'prefixed');
    await until(() => raw.messages.length === 1, 'the raw copy on svc:user.registered');
    const [, n] = (await admin.pubsub('NUMSUB', 'svc:user.registered')) as [string, number];
    expect(Number(n)).toBe(3); // a, b and the raw client
    expect((await admin.pubsub('CHANNELS', 'svc:*')) as string[]).toEqual(['svc:user.registered']);
    expect(Number(await admin.pubsub('NUMPAT'))).toBeGreaterThanOrEqual(1);
    expect(other.get(Recorder).users).toEqual([]);
  });

  it('passes timeouts and other ioredis options through, and works with forRootAsync', async () => {
    @Module({
      imports: [
        EventBusModule.forRootAsync({
          useFactory: async () => ({
            driver: 'redis' as const,
            redis: { url: server.url, protocol, connectTimeout: 2_000, commandTimeout: 2_000, keepAlive: 5_000 },
          }),
        }),
      ],
      providers: [Recorder],
    })
    class AsyncModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AsyncModule] }).compile();
    await moduleRef.init();
    const asyncApp: RedisTestApp = {
      app: moduleRef,
      bus: moduleRef.get(EventBus),
      errors: [],
      get: (t) => moduleRef.get(t),
      close: () => moduleRef.close(),
    };
    apps.push(asyncApp);
    const b = await start({ url: server.url });
    await exchange(asyncApp, b, 'async-1');
    await exchange(b, asyncApp, 'async-2');
  });
});
