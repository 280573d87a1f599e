import { Injectable, Module } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import type Redis from 'ioredis';
import { DriverUnavailableError, EventBus, EventBusModule, OnEvent, type EventBusModuleOptions } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CapturingLogger } from '../support/capturing-logger';
import { RedisServer } from '../support/redis-server';
import { rawClient, until } from '../support/redis-test-app';

// A burst of dispatches leaves as one EVAL (a Lua script that runs the PUBLISHes or XADDs one by one),
// split by payload size; where Redis refuses scripts the drivers fall back to plain commands.

@Injectable()
class Received {
  readonly seen: number[] = [];
  readonly sizes: number[] = [];
  @OnEvent(['batch.one', 'batch.allowed']) // streams listen to exact names
  onBatch(payload: { n: number; blob?: string }) {
    this.seen.push(payload.n);
    if (payload.blob !== undefined) this.sizes.push(payload.blob.length);
  }
}

/** Users of the spec's redis-server: one without EVAL, one that may publish only to `goevent:batch.allowed*` channels and keys. */
const ACL = [
  'user noeval on >pw allchannels allkeys +@all -@dangerous -eval -evalsha',
  'user narrow on >pw resetchannels &goevent:batch.allowed* ~goevent:batch.allowed* +@all -@dangerous',
];

type Driver = 'redis' | 'redis-streams';

describe.each([
  ['redis', 2, false],
  ['redis', 3, false],
  ['redis', 3, true],
  ['redis-streams', 2, false],
  ['redis-streams', 3, false],
] as const)('%s driver, batch scripts over RESP%i (sharded: %s)', (driver: Driver, protocol, sharded) => {
  let server: RedisServer;
  let admin: Redis;
  const apps: TestingModule[] = [];
  let prefixes = 0;

  const boot = async (url: string, listeners: boolean, logger = new CapturingLogger()) => {
    const options: EventBusModuleOptions = {
      driver,
      redis: { url, protocol, channelPrefix: 'goevent:', ...(sharded ? { sharded: true } : {}) },
      ...(driver === 'redis-streams' ? { streams: { blockMs: 100, group: `g${process.pid}-${++prefixes}` } } : {}),
    };
    @Module({ imports: [EventBusModule.forRoot(options)], providers: listeners ? [Received] : [] })
    class AppModule {}
    const app = await Test.createTestingModule({ imports: [AppModule] })
      .setLogger(logger)
      .compile();
    await app.init();
    apps.push(app);
    return { app, bus: app.get(EventBus), logger };
  };
  /** Calls of each command Redis ran (a PUBLISH or XADD made by a script counts as one). */
  const calls = async (): Promise<Record<string, number>> => {
    const info = (await admin.info('commandstats')) as string;
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) out[m[1]] = Number(m[2]);
    return out;
  };
  const delta = (before: Record<string, number>, after: Record<string, number>, name: string) => (after[name] ?? 0) - (before[name] ?? 0);
  const writeCommand = driver === 'redis' ? (sharded ? 'spublish' : 'publish') : 'xadd';
  const fresh = async () => {
    // Streams: a fresh group reads only what is appended after it exists; the names are the test's own.
    await admin.del('goevent:batch.one', 'goevent:batch.allowed', 'goevent:batch.denied');
  };

  beforeAll(async () => {
    server = await RedisServer.start({ config: ACL });
    admin = rawClient(server.url);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await fresh();
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.destroy();
  });

  it('a burst of 1,000 dispatches leaves as one EVAL and arrives whole and in order', async () => {
    const receiver = await boot(server.url, true);
    const sender = await boot(server.url, false);
    const before = await calls();
    const handles = Array.from({ length: 1_000 }, (_, n) => sender.bus.dispatch('batch.one', { n }));
    const outcomes = await Promise.all(handles);
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    await until(() => receiver.app.get(Received).seen.length === 1_000, 'every event received');
    expect(receiver.app.get(Received).seen).toEqual(Array.from({ length: 1_000 }, (_, n) => n));
    const after = await calls();
    expect(delta(before, after, 'eval')).toBe(1);
    expect(delta(before, after, writeCommand)).toBe(1_000);
  });

  it('a burst of large events is split into several scripts, none over half a megabyte of payload', async () => {
    const receiver = await boot(server.url, true);
    const sender = await boot(server.url, false);
    const before = await calls();
    const blob = 'x'.repeat(200_000);
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, n) => sender.bus.dispatch('batch.one', { n, blob })));
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    await until(() => receiver.app.get(Received).seen.length === 8, 'every large event received');
    expect(receiver.app.get(Received).seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(receiver.app.get(Received).sizes).toEqual(Array(8).fill(200_000));
    const after = await calls();
    // Two 200 kB envelopes fit in 512 KiB, three do not.
    expect(delta(before, after, 'eval')).toBe(4);
    expect(delta(before, after, writeCommand)).toBe(8);
  });

  it('where Redis refuses EVAL, the burst goes as plain commands: nothing lost, order kept, one warning', async () => {
    const receiver = await boot(server.url, true);
    const sender = await boot(`redis://noeval:pw@127.0.0.1:${server.port}`, false);
    const before = await calls();
    for (const round of [0, 1]) {
      const outcomes = await Promise.all(Array.from({ length: 100 }, (_, i) => sender.bus.dispatch('batch.one', { n: round * 100 + i })));
      expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    }
    await until(() => receiver.app.get(Received).seen.length === 200, 'every event received');
    expect(receiver.app.get(Received).seen).toEqual(Array.from({ length: 200 }, (_, n) => n));
    const after = await calls();
    expect(delta(before, after, writeCommand)).toBe(200);
    expect(delta(before, after, 'eval')).toBe(0); // refused by the ACL: never run
    const warnings = sender.logger.lines.filter((l) => l.level === 'warn' && /refused EVAL/.test(l.message));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].message).toMatch(/NOPERM/);
  });

  it('a command Redis refuses inside a batch fails only its own dispatch, with Redis’s reason', async () => {
    const receiver = await boot(server.url, true);
    const sender = await boot(`redis://narrow:pw@127.0.0.1:${server.port}`, false);
    const handles = Array.from({ length: 20 }, (_, n) => sender.bus.dispatch(n % 2 === 0 ? 'batch.allowed' : 'batch.denied', { n }));
    const outcomes = await Promise.all(handles);
    outcomes.forEach((outcome, n) => {
      if (n % 2 === 0) {
        expect(outcome.errors).toEqual([]);
        return;
      }
      expect(outcome.errors).toHaveLength(1);
      const cause = outcome.errors[0].cause;
      // As for a plain command: the pub/sub driver wraps Redis's refusal, the streams driver passes it on.
      if (driver === 'redis') expect(cause).toBeInstanceOf(DriverUnavailableError);
      else expect((cause as Error).name).toBe('ReplyError');
      expect((cause as Error).message).toMatch(/NOPERM|permission|can't publish|can't access/i);
      // Refused, not lost on the way: no "may still have been delivered".
      expect((cause as Error).message).not.toMatch(/may still have been/);
    });
    await until(() => receiver.app.get(Received).seen.length === 10, 'the allowed events received');
    expect(receiver.app.get(Received).seen).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
  });
});
