import { describe, expect, it } from 'vitest';
import { bootStreamsApp, freshPrefix, pendingCount, until } from '../support/streams-test-app';
import { seenCounts, StreamsWorker, useWorkerFleet } from '../support/streams-workers';

const LISTENERS = ['Billing.charge', 'Mailer.send'];
const EVENTS = 10_000;

describe('redis-streams: three replica processes share the work', () => {
  const fleet = useWorkerFleet();

  it(`every listener group handles each of ${EVENTS} events exactly once across the replicas`, async () => {
    const { server, ledgerServer, redis, ledger, workers } = fleet;
    const prefix = freshPrefix('mp');
    const env = { REDIS_URL: server.url, LEDGER_URL: ledgerServer.url, PREFIX: prefix, BLOCK_MS: '500' };
    workers.push(...(await Promise.all(['a', 'b', 'c'].map((replica) => StreamsWorker.start({ ...env, REPLICA: replica })))));
    const sender = (fleet.sender = await bootStreamsApp({}, { url: server.url, prefix }));

    // Dispatched in bursts, as an app under load would (each burst is one pipeline).
    const failures: string[] = [];
    for (let start = 0; start < EVENTS; start += 1000) {
      const burst = Array.from({ length: 1000 }, (_, i) => sender.bus.dispatch('order.placed', { n: start + i }));
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
