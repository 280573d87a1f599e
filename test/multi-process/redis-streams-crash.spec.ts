import type Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, pendingCount, rawRedis, until } from '../support/streams-test-app';
import { assertWorkerBuilt, seenCounts, StreamsWorker } from '../support/streams-workers';

const LISTENERS = ['Billing.charge', 'Mailer.send'];

describe('redis-streams: crashes of a replica and of Redis', () => {
  let ledgerServer: RedisServer;
  let ledger: Redis;
  const servers: RedisServer[] = [];
  const apps: BootedApp[] = [];
  const workers: StreamsWorker[] = [];

  beforeAll(async () => {
    assertWorkerBuilt();
    ledgerServer = await RedisServer.start();
    ledger = rawRedis(ledgerServer.url);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await Promise.all(workers.splice(0).map((w) => w.kill()));
    await Promise.all(servers.splice(0).map((s) => s.destroy()));
  });
  afterAll(async () => {
    ledger?.disconnect();
    await ledgerServer?.destroy();
  });

  it('a replica SIGKILLed while holding unacknowledged entries: another replica handles every one after claimIdleMs', async () => {
    const server = await RedisServer.start();
    servers.push(server);
    const redis = rawRedis(server.url);
    const prefix = freshPrefix('crash');
    const env = { REDIS_URL: server.url, LEDGER_URL: ledgerServer.url, PREFIX: prefix, BLOCK_MS: '200', CLAIM_IDLE_MS: '2000' };
    // The holder starts alone and takes the first batch of both groups, finishing none of it.
    const holder = await StreamsWorker.start({ ...env, REPLICA: 'holder', HOLD: '1' });
    workers.push(holder);
    const sender = await bootStreamsApp({}, { url: server.url, prefix });
    apps.push(sender);
    const TOTAL = 400;
    const first = await Promise.all(Array.from({ length: 150 }, (_, n) => sender.bus.dispatch('order.placed', { n })));
    expect(first.every((r) => r.errors.length === 0)).toBe(true);
    const key = `${prefix}order.placed`;
    await until(
      async () => (await pendingCount(redis, key, 'svc:Billing.charge')) > 0 && (await pendingCount(redis, key, 'svc:Mailer.send')) > 0,
      10_000,
      'holder to take entries',
    );
    const healthy = await Promise.all(['h1', 'h2'].map((replica) => StreamsWorker.start({ ...env, REPLICA: replica })));
    workers.push(...healthy);
    const rest = await Promise.all(Array.from({ length: TOTAL - 150 }, (_, i) => sender.bus.dispatch('order.placed', { n: 150 + i })));
    expect(rest.every((r) => r.errors.length === 0)).toBe(true);
    const heldBeforeKill = await ledger.smembers(`${prefix}held`);
    expect(heldBeforeKill.length).toBeGreaterThan(0);
    // What the holder owns in Redis at the moment it dies.
    const owned = async (group: string): Promise<number> => {
      const consumers = (await redis.call('XINFO', 'CONSUMERS', key, group)) as unknown[][];
      const row = consumers.find((c) => c[1] === 'replica-holder');
      return row === undefined ? 0 : Number(row[3]);
    };
    const ownedAtKill = (await owned('svc:Billing.charge')) + (await owned('svc:Mailer.send'));
    expect(ownedAtKill).toBeGreaterThan(1);
    await holder.kill();

    for (const listener of LISTENERS) {
      await until(async () => (await ledger.hlen(`${prefix}seen:${listener}`)) === TOTAL, 30_000, `${listener} to handle all ${TOTAL}`);
    }
    for (const listener of LISTENERS) {
      const seen = await seenCounts(ledger, prefix, listener);
      expect(seen.size).toBe(TOTAL);
      // The holder never finished anything, so nothing was handled twice.
      expect([...seen.values()].every((c) => c === 1)).toBe(true);
      await until(async () => (await pendingCount(redis, key, `svc:${listener}`)) === 0, 10_000, `${listener} acks`);
    }
    expect(await owned('svc:Billing.charge')).toBe(0);
    expect(await redis.xlen(`${key}:dlq`)).toBe(0);
    redis.disconnect();
  }, 60_000);

  it('redis-server (appendonly, appendfsync always) SIGKILLed mid-stream and restarted: every dispatch that resolved without error is handled', async () => {
    const server = await RedisServer.start({ durable: true });
    servers.push(server);
    const prefix = freshPrefix('aof');
    const env = { REDIS_URL: server.url, LEDGER_URL: ledgerServer.url, PREFIX: prefix, BLOCK_MS: '200', CLAIM_IDLE_MS: '1500' };
    workers.push(...(await Promise.all(['r1', 'r2'].map((replica) => StreamsWorker.start({ ...env, REPLICA: replica })))));
    const sender = await bootStreamsApp({}, { url: server.url, prefix, redis: { publishTimeoutMs: 1500 } });
    apps.push(sender);

    const confirmed: number[] = [];
    const failed: number[] = [];
    let n = 0;
    const pump = async (untilN: number): Promise<void> => {
      while (n < untilN) {
        const burst = Array.from({ length: 20 }, () => n++).map((i) =>
          sender.bus.dispatch('order.placed', { n: i }).then((r) => (r.errors.length === 0 ? confirmed : failed).push(i)),
        );
        await Promise.all(burst);
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    await pump(600);
    // Kill Redis while dispatches are in flight, then bring it back from its AOF.
    const inFlight = pump(1200);
    await new Promise((r) => setTimeout(r, 30));
    await server.kill();
    await new Promise((r) => setTimeout(r, 300));
    await server.launch();
    await inFlight;
    await pump(1600);
    expect(confirmed.length).toBeGreaterThan(1000);

    for (const listener of LISTENERS) {
      await until(
        async () => {
          const seen = await seenCounts(ledger, prefix, listener);
          return confirmed.every((i) => seen.has(i));
        },
        60_000,
        `${listener} to handle every confirmed dispatch`,
      );
    }
    // Failed dispatches were reported as publisher errors (DriverUnavailableError), never silently lost.
    expect(sender.bus.stats().publishErrors).toBe(failed.length);
  }, 100_000);
});
