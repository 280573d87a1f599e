import { DriverUnavailableError, type DispatchHandle } from 'nestjs-event-bus';
import type Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, sleep, type BootedApp } from '../support/boot-app';
import { RedisCluster } from '../support/redis-cluster';
import { RedisServer } from '../support/redis-server';
import { rawRedis, until } from '../support/streams-test-app';
import { assertWorkerBuilt, seenCounts, StreamsWorker } from '../support/streams-workers';

const LISTENERS = ['Billing.charge', 'Mailer.send'];
const RUNS = 10;
const PUBLISH_TIMEOUT_MS = 2000;

type Outcome = 'resolved' | 'failed' | 'hung' | 'other';

/**
 * `streams.waitReplicas: 1` on a real Redis Cluster, over ten failovers: two worker processes
 * consume 'order.placed' (two listener groups), this process dispatches every 20 ms while the
 * master of the stream's slot is SIGKILLed, its replica promoted, and the old master restarted as
 * the new one's replica. A dispatch resolves (the append reached a replica), fails with
 * DriverUnavailableError, or hangs (must never happen); every resolved one must be handled by
 * both groups (resolved-but-never-handled = 0), whatever master held it.
 */
describe('redis-streams on a cluster: waitReplicas 1 through ten failovers, two worker processes', () => {
  let cluster: RedisCluster;
  let ledgerServer: RedisServer;
  let ledger: Redis;
  let sender: BootedApp | undefined;
  const workers: StreamsWorker[] = [];

  beforeAll(async () => {
    assertWorkerBuilt();
    [cluster, ledgerServer] = await Promise.all([RedisCluster.start({ nodeTimeoutMs: 1000 }), RedisServer.start()]);
    ledger = rawRedis(ledgerServer.url);
  }, 60_000);
  afterAll(async () => {
    await sender?.close();
    await Promise.all(workers.map((worker) => worker.kill()));
    ledger?.disconnect();
    await Promise.all([cluster?.destroy(), ledgerServer?.destroy()]);
  });

  it(`${RUNS} failovers: none hangs, failures are DriverUnavailableError, no resolved dispatch goes unhandled`, async () => {
    const prefix = 'cf:';
    const key = `${prefix}{order.placed}`;
    const nodes = cluster.startupNodes;
    const env = {
      CLUSTER_NODES: nodes.map(({ host, port }) => `${host}:${port}`).join(','),
      LEDGER_URL: ledgerServer.url,
      PREFIX: prefix,
      BLOCK_MS: '500',
      CLAIM_IDLE_MS: '3000',
    };
    workers.push(...(await Promise.all(['a', 'b'].map((replica) => StreamsWorker.start({ ...env, REPLICA: replica }, 30_000)))));
    sender = await bootApp(
      {},
      {
        driver: 'redis-streams',
        redis: { cluster: { nodes }, channelPrefix: prefix, publishTimeoutMs: PUBLISH_TIMEOUT_MS },
        streams: { waitReplicas: 1 },
      },
    );
    const bus = sender.bus;
    const outcome = (handle: DispatchHandle): Promise<Outcome> =>
      Promise.race([
        handle.then((result): Outcome => {
          if (result.errors.length === 0) return 'resolved';
          return result.errors.every((error) => error.cause instanceof DriverUnavailableError) ? 'failed' : 'other';
        }),
        sleep(PUBLISH_TIMEOUT_MS + 1500).then((): Outcome => 'hung'),
      ]);
    await until(async () => (await bus.dispatch('order.placed', { n: -1 })).errors.length === 0, 10_000, 'a confirmed append');

    const totals = { resolved: 0, failed: 0, hung: 0, other: 0 };
    const resolved: number[] = [];
    const perRun: string[] = [];
    let next = 0;
    for (let run = 0; run < RUNS; run++) {
      const master = await cluster.masterOfKey(key);
      const outcomes: Array<Promise<[Outcome, number]>> = [];
      let running = true;
      const loop = (async () => {
        while (running) {
          const n = next++;
          outcomes.push(outcome(bus.dispatch('order.placed', { n })).then((o) => [o, n]));
          await sleep(20);
        }
      })();
      await sleep(200);
      await cluster.killMaster(master.port);
      await cluster.restart(master.port);
      // Confirmed again once the old master replicates the promoted one.
      await until(async () => (await bus.dispatch('order.placed', { n: -1 })).errors.length === 0, 10_000, 'a confirmed append').catch(
        () => undefined,
      );
      running = false;
      await loop;
      const counts = { resolved: 0, failed: 0, hung: 0, other: 0 };
      for (const [o, n] of await Promise.all(outcomes)) {
        counts[o]++;
        totals[o]++;
        if (o === 'resolved') resolved.push(n);
      }
      perRun.push(`${counts.resolved}/${counts.failed}/${counts.hung}`);
    }

    const unhandled = async (): Promise<number> => {
      let missing = 0;
      for (const listener of LISTENERS) {
        const seen = await seenCounts(ledger, prefix, listener);
        missing += resolved.filter((n) => !seen.has(n)).length;
      }
      return missing;
    };
    await until(async () => (await unhandled()) === 0, 30_000, 'every resolved dispatch handled by both groups').catch(() => undefined);
    const lost = await unhandled();
    console.log(
      `[cluster failover x${RUNS}, waitReplicas 1, 2 worker processes] ${JSON.stringify({ ...totals, lost })} ` +
        `(resolved/failed/hung per run: ${perRun.join(' ')})`,
    );
    expect(totals.hung).toBe(0);
    expect(totals.other).toBe(0);
    expect(lost).toBe(0);
    expect(totals.resolved).toBeGreaterThan(0);
    expect(totals.failed).toBeGreaterThan(0);
  }, 240_000);
});
