import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BootedApp } from '../support/boot-app';
import { freePort, RedisServer, sleep } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, pendingCount, rawRedis, until } from '../support/streams-test-app';
import { assertWorkerBuilt, seenCounts, StreamsWorker } from '../support/streams-workers';

const LISTENERS = ['Billing.charge', 'Mailer.send'];
const GROUPS = LISTENERS.map((l) => `svc:${l}`);
/** Runs and events per run: 10 × 2,000 keeps the file near a minute and a half on a busy 2-core machine. */
const RUNS = Number(process.env.RESTART_RUNS ?? 10);
const EVENTS = 2_000;
const CLAIM_IDLE_MS = 1_500;
/**
 * How long after the run's last dispatch every pending entry must be acknowledged: after an outage
 * a replica reclaims only after claimIdleMs (owners touch their entries first), then claimIdleMs of
 * idle time, plus a margin for the backlog appended after the restart on a busy 2-core CI machine.
 * An ack that waits for its deadline (the replicas' publishTimeoutMs, 20 s here) is far past it.
 */
const DRAIN_LIMIT_MS = 2 * CLAIM_IDLE_MS + 9_000;
const REPLICA_PUBLISH_TIMEOUT_MS = 20_000;

interface RunFigures {
  run: number;
  confirmed: number;
  failed: number;
  /** Delivered to a consumer and not acknowledged when Redis died (both groups), read from the AOF Redis restarted from. */
  heldAtKill: number;
  duplicates: number;
  /** From the run's last dispatch (after the restart) to empty pending lists. */
  drainMs: number;
  /** From the kill to Redis answering again. */
  downMs: number;
}

/**
 * What Redis held as pending (delivered, not acknowledged) at the moment it was killed: its AOF
 * (appendfsync always) loaded into a redis-server on a port no client knows, read, and stopped
 * before the real one starts again.
 */
async function pendingInAof(server: RedisServer, key: string): Promise<number> {
  const port = await freePort();
  const child = spawn('redis-server', [join(server.dir, 'redis.conf'), '--port', String(port)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const probe = rawRedis(`redis://127.0.0.1:${port}`);
  probe.on('error', () => undefined);
  try {
    await until(async () => (await probe.ping().catch(() => '')) === 'PONG', 10_000, 'the AOF probe server');
    let held = 0;
    for (const group of GROUPS) held += await pendingCount(probe, key, group).catch(() => 0);
    return held;
  } finally {
    probe.disconnect();
    child.kill('SIGKILL');
    await exited;
  }
}

describe('redis-streams: redis-server (AOF always) SIGKILLed mid-stream and restarted, repeatedly, under three replica processes', () => {
  let server: RedisServer;
  let ledgerServer: RedisServer;
  let redis: Redis;
  let ledger: Redis;
  let sender: BootedApp | undefined;
  const workers: StreamsWorker[] = [];

  beforeAll(async () => {
    assertWorkerBuilt();
    [server, ledgerServer] = await Promise.all([RedisServer.start({ durable: true }), RedisServer.start()]);
    redis = rawRedis(server.url);
    redis.on('error', () => undefined);
    ledger = rawRedis(ledgerServer.url);
  });
  afterAll(async () => {
    await sender?.close();
    await Promise.all(workers.map((w) => w.kill()));
    redis?.disconnect();
    ledger?.disconnect();
    await Promise.all([server?.destroy(), ledgerServer?.destroy()]);
  });

  it(`${RUNS} runs of ${EVENTS} events: no confirmed dispatch lost, duplicates only among entries held at the crash, pending drained within 2 × claimIdleMs + 9 s`, async () => {
    const prefix = freshPrefix('restart');
    const key = `${prefix}order.placed`;
    const env = {
      REDIS_URL: server.url,
      LEDGER_URL: ledgerServer.url,
      PREFIX: prefix,
      BLOCK_MS: '200',
      CLAIM_IDLE_MS: String(CLAIM_IDLE_MS),
      PUBLISH_TIMEOUT_MS: String(REPLICA_PUBLISH_TIMEOUT_MS),
    };
    workers.push(...(await Promise.all(['a', 'b', 'c'].map((replica) => StreamsWorker.start({ ...env, REPLICA: replica })))));
    sender = await bootStreamsApp({}, { url: server.url, prefix, redis: { publishTimeoutMs: 1500 } });
    const bus = sender.bus;
    const figures: RunFigures[] = [];

    for (let run = 0; run < RUNS; run++) {
      const base = run * EVENTS;
      const confirmed: number[] = [];
      const failed: number[] = [];
      let n = base;
      const pump = async (upTo: number): Promise<void> => {
        while (n < upTo) {
          const burst = Array.from({ length: 20 }, () => n++).map((i) =>
            bus.dispatch('order.placed', { n: i }).then((r) => (r.errors.length === 0 ? confirmed : failed).push(i)),
          );
          await Promise.all(burst);
          await sleep(2);
        }
      };
      await pump(base + EVENTS / 2);
      // Killed while dispatches, reads and acks are in flight; back from its AOF.
      const rest = pump(base + EVENTS);
      await sleep(20);
      const killed = Date.now();
      await server.kill();
      const heldAtKill = await pendingInAof(server, key);
      await server.launch();
      const back = Date.now();
      await rest;
      const pumped = Date.now();

      for (const listener of LISTENERS) {
        await until(
          async () => {
            const seen = await seenCounts(ledger, prefix, listener);
            return confirmed.every((i) => seen.has(i));
          },
          30_000,
          `run ${run}: ${listener} to handle every confirmed dispatch`,
        );
      }
      await until(
        async () => {
          for (const group of GROUPS) if ((await pendingCount(redis, key, group)) !== 0) return false;
          return true;
        },
        DRAIN_LIMIT_MS + 10_000,
        `run ${run}: the pending lists to drain`,
      );
      // From the last dispatch of the run (the entries appended after the restart are part of the backlog).
      const drainMs = Date.now() - pumped;
      let duplicates = 0;
      for (const listener of LISTENERS) {
        for (const [i, count] of await seenCounts(ledger, prefix, listener))
          if (i >= base && i < base + EVENTS && count > 1) duplicates += count - 1;
      }
      const again = await ledger.lrange(`${prefix}again`, 0, -1);
      await ledger.del(`${prefix}again`);
      if (again.length > 0) console.log(`run ${run} again (killed ${killed}, back ${back}):\n${again.slice(0, 8).join('\n')}`);
      figures.push({ run, confirmed: confirmed.length, failed: failed.length, heldAtKill, duplicates, drainMs, downMs: back - killed });
    }

    console.log(`redis restart runs:\n${figures.map((f) => JSON.stringify(f)).join('\n')}`);
    for (const f of figures) {
      expect(f.confirmed, `run ${f.run}: most dispatches confirmed`).toBeGreaterThan(EVENTS / 2);
      expect(f.duplicates, `run ${f.run}: duplicates (held at the crash: ${f.heldAtKill})`).toBeLessThanOrEqual(f.heldAtKill);
      expect(f.drainMs, `run ${f.run}: pending drained after the restart`).toBeLessThanOrEqual(DRAIN_LIMIT_MS);
    }
    // Failed dispatches were reported as publisher errors, never silently lost.
    expect(bus.stats().publishErrors).toBe(figures.reduce((sum, f) => sum + f.failed, 0));
    expect(await redis.xlen(`${key}:dlq`)).toBe(0);
  }, 170_000);
});
