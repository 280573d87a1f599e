import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, pendingCount, rawRedis, until } from '../support/streams-test-app';
import { assertWorkerBuilt, seenCounts, StreamsWorker } from '../support/streams-workers';

const LISTENERS = ['Billing.charge', 'Mailer.send'];
const EVENTS = 10_000;

describe('redis-streams: three replica processes share the work', () => {
  let server: RedisServer;
  let ledgerServer: RedisServer;
  let redis: Redis;
  let ledger: Redis;
  let sender: BootedApp | undefined;
  const workers: StreamsWorker[] = [];

  beforeAll(async () => {
    assertWorkerBuilt();
    [server, ledgerServer] = await Promise.all([RedisServer.start(), RedisServer.start()]);
    redis = rawRedis(server.url);
    ledger = rawRedis(ledgerServer.url);
  });
  afterAll(async () => {
    await sender?.close();
    await Promise.all(workers.map((w) => w.kill()));
    redis?.disconnect();
    ledger?.disconnect();
    await Promise.all([server?.destroy(), ledgerServer?.destroy()]);
  });

  it(`every listener group handles each of ${EVENTS} events exactly once across the replicas`, async () => {
    const prefix = freshPrefix('mp');
    const env = { REDIS_URL: server.url, LEDGER_URL: ledgerServer.url, PREFIX: prefix, BLOCK_MS: '500' };
    workers.push(...(await Promise.all(['a', 'b', 'c'].map((replica) => StreamsWorker.start({ ...env, REPLICA: replica })))));
    sender = await bootStreamsApp({}, { url: server.url, prefix });

    // Dispatched in bursts, as an app under load would (each burst is one pipeline).
    const failures: string[] = [];
    for (let start = 0; start < EVENTS; start += 1000) {
      const burst = Array.from({ length: 1000 }, (_, i) => sender!.bus.dispatch('order.placed', { n: start + i }));
      for (const result of await Promise.all(burst)) failures.push(...result.errors.map((e) => e.message));
    }
    expect(failures).toEqual([]);
    expect(await redis.xlen(`${prefix}order.placed`)).toBe(EVENTS);

    for (const listener of LISTENERS) {
      await until(async () => (await ledger.hlen(`${prefix}seen:${listener}`)) === EVENTS, 90_000, `${listener} to see every event`);
    }
    for (const listener of LISTENERS) {
      await until(async () => (await pendingCount(redis, `${prefix}order.placed`, `svc:${listener}`)) === 0, 10_000, `${listener} acks`);
    }
    for (const listener of LISTENERS) {
      const seen = await seenCounts(ledger, prefix, listener);
      const duplicates = [...seen].filter(([, count]) => count !== 1);
      expect(duplicates, `${listener} duplicates`).toEqual([]);
      expect(seen.size).toBe(EVENTS);
      // Competing consumers: the work really was spread over the replicas, and adds up.
      const perReplica = await ledger.hgetall(`${prefix}replica:${listener}`);
      expect(Object.keys(perReplica).length, `${listener} replicas used`).toBeGreaterThanOrEqual(2);
      expect(Object.values(perReplica).reduce((sum, v) => sum + Number(v), 0)).toBe(EVENTS);
    }
    expect(await redis.xlen(`${prefix}order.placed:dlq`)).toBe(0);
  }, 150_000);
});
