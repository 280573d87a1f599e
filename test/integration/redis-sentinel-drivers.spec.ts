import { Injectable } from '@nestjs/common';
import { DriverUnavailableError, OnEvent, type EventBus } from 'nestjs-event-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, sleep, type BootedApp } from '../support/boot-app';
import { RedisSentinelGroup } from '../support/redis-sentinel';
import { until } from '../support/streams-test-app';

/**
 * Both redis drivers behind Sentinel (1 master, 1 replica, 3 Sentinels, started once for this
 * file): the master is SIGKILLed while one app dispatches every 20 ms. No dispatch hangs, every
 * failure is a DriverUnavailableError, and once the Sentinels promoted the replica, dispatching,
 * the subscription and the consumer group resume by themselves.
 */
describe('redis drivers behind Sentinel', () => {
  let group: RedisSentinelGroup;
  const apps: BootedApp[] = [];

  beforeAll(async () => {
    group = await RedisSentinelGroup.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(apps.map((app) => app.close().catch(() => undefined)));
    await group?.destroy();
  });

  const boot = async (...args: Parameters<typeof bootApp>): Promise<BootedApp> => {
    const app = await bootApp(...args);
    apps.push(app);
    return app;
  };

  async function dispatchThroughFailover(
    bus: EventBus,
    eventName: string,
    publishTimeoutMs: number,
    delivered: () => number,
  ): Promise<{ resolved: number; failed: number; hung: number; other: number; deliveredAfter: boolean }> {
    const outcomes: Array<Promise<'resolved' | 'failed' | 'hung' | 'other'>> = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        outcomes.push(
          Promise.race([
            bus.dispatch(eventName, { i }).then((result) => {
              if (result.errors.length === 0) return 'resolved' as const;
              return result.errors.every((error) => error.cause instanceof DriverUnavailableError)
                ? ('failed' as const)
                : ('other' as const);
            }),
            sleep(publishTimeoutMs + 1500).then(() => 'hung' as const),
          ]),
        );
        await sleep(20);
      }
    })();
    await sleep(300);
    const old = group.master;
    await group.killMaster();
    await sleep(500);
    running = false;
    await loop;
    const counts = { resolved: 0, failed: 0, hung: 0, other: 0 };
    for (const outcome of await Promise.all(outcomes)) counts[outcome]++;
    const before = delivered();
    let deliveredAfter = false;
    const deadline = Date.now() + 15_000;
    while (!deliveredAfter && Date.now() < deadline) {
      const result = await bus.dispatch(eventName, { after: true });
      if (result.errors.length === 0) {
        await until(() => delivered() > before, 3000, 'delivery after the failover').then(
          () => (deliveredAfter = true),
          () => undefined,
        );
      }
      if (!deliveredAfter) await sleep(200);
    }
    // The old master comes back as a replica, for the next test's failover.
    await group.restart(old);
    return { ...counts, deliveredAfter };
  }

  it('redis-streams: dispatches fail fast during the switch, never hang, and the consumer group resumes on the new master', async () => {
    let handled = 0;
    @Injectable()
    class Counter {
      @OnEvent('sentinel.streams')
      on(): void {
        handled++;
      }
    }
    const publishTimeoutMs = 2000;
    const app = await boot(
      { providers: [Counter] },
      {
        driver: 'redis-streams',
        redis: { sentinels: group.sentinels, name: group.name, channelPrefix: 'ss:', publishTimeoutMs },
        streams: { group: 'svc', blockMs: 200 },
      },
    );
    const counts = await dispatchThroughFailover(app.bus, 'sentinel.streams', publishTimeoutMs, () => handled);
    console.log(`[sentinel failover, redis-streams] ${JSON.stringify(counts)}`);
    expect(counts.hung).toBe(0);
    expect(counts.other).toBe(0);
    expect(counts.failed).toBeGreaterThan(0);
    expect(counts.resolved).toBeGreaterThan(0);
    expect(counts.deliveredAfter).toBe(true);
  }, 60_000);

  it('redis: publishes fail fast during the switch, never hang, and the subscription resumes on the new master', async () => {
    let received = 0;
    @Injectable()
    class Counter {
      @OnEvent('sentinel.pubsub')
      on(): void {
        received++;
      }
    }
    const publishTimeoutMs = 2000;
    const redis = { sentinels: group.sentinels, name: group.name, channelPrefix: 'sp:', publishTimeoutMs };
    await boot({ providers: [Counter] }, { driver: 'redis', redis });
    const sender = await boot({}, { driver: 'redis', redis });
    const counts = await dispatchThroughFailover(sender.bus, 'sentinel.pubsub', publishTimeoutMs, () => received);
    console.log(`[sentinel failover, redis] ${JSON.stringify(counts)}`);
    expect(counts.hung).toBe(0);
    expect(counts.other).toBe(0);
    expect(counts.failed).toBeGreaterThan(0);
    expect(counts.resolved).toBeGreaterThan(0);
    expect(counts.deliveredAfter).toBe(true);
  }, 60_000);
});
