import { Injectable } from '@nestjs/common';
import { OnEvent, RemoteTrackingTimeoutError, type EventBusModuleOptions } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type BootedApp } from '../support/boot-app';
import { RedisCluster } from '../support/redis-cluster';

/**
 * Tracked dispatches on a real Redis Cluster (3 masters, 3 replicas, started once for this file):
 * classic pub/sub, sharded pub/sub and redis-streams. Several receiving apps, so that their
 * subscriber connections sit on different nodes; the outcome of every one comes back.
 */
describe('tracking a dispatch across processes on a Redis Cluster', () => {
  let cluster: RedisCluster;
  const apps: BootedApp[] = [];

  beforeAll(async () => {
    cluster = await RedisCluster.start();
  }, 60_000);
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close().catch(() => undefined)));
  });
  afterAll(async () => {
    await cluster?.destroy();
  });

  const boot = async (...args: Parameters<typeof bootApp>): Promise<BootedApp> => {
    const app = await bootApp(...args);
    apps.push(app);
    return app;
  };

  const receiverClass = (label: string, eventName: string, fail = false) => {
    @Injectable()
    class Receiver {
      @OnEvent(eventName)
      on(): void {
        if (fail) throw new RangeError(`${label} refused`);
      }
    }
    Object.defineProperty(Receiver, 'name', { value: `Receiver${label}` });
    return Receiver;
  };

  /** Four receivers, one failing; a publisher; many tracked dispatches over many channels (many slots). */
  async function fourReceivers(options: EventBusModuleOptions, eventNames: string[], streams?: (i: number) => object): Promise<BootedApp> {
    for (let i = 0; i < 4; i++) {
      const providers = eventNames.map((name, k) => receiverClass(`${i}x${k}`, name, i === 3));
      await boot({ providers }, { ...options, ...(streams?.(i) ?? {}) });
    }
    return boot({}, options);
  }

  const names = (label: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${label}.${i}`);

  it.each([
    ['classic pub/sub', 'tc:', false],
    ['sharded pub/sub', 'ts:', true],
  ])('%s: every receiver reports, wherever its subscriber connection is', async (label, channelPrefix, sharded) => {
    const eventNames = names(label.split(' ')[0]!, 6);
    const options = { driver: 'redis' as const, redis: { channelPrefix, sharded, cluster: { nodes: cluster.startupNodes } } };
    const publisher = await fourReceivers(options, eventNames);
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => publisher.bus.dispatch(eventNames[i % 6]!, { i }, { trackRemote: { timeoutMs: 5_000 } })),
    );
    for (const result of results) {
      const timeouts = result.errors.filter((e) => e.cause instanceof RemoteTrackingTimeoutError);
      expect(timeouts).toEqual([]);
      expect(result.outcomes).toHaveLength(4);
      expect(result.outcomes.filter((o) => !o.ok)).toHaveLength(1);
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]!.message).toContain('refused');
    }
  });

  it('classic pub/sub: wildcard listeners (here and elsewhere) are not waited for, never a timeout or a refused report', async () => {
    const options = { driver: 'redis' as const, redis: { channelPrefix: 'tw:', cluster: { nodes: cluster.startupNodes } } };
    const wildcard = (label: string) => {
      @Injectable()
      class Wild {
        @OnEvent('wild.*')
        on(): void {}
      }
      Object.defineProperty(Wild, 'name', { value: `Wild${label}` });
      return Wild;
    };
    await boot({ providers: [receiverClass('exact', 'wild.one')] }, options);
    await boot({ providers: [wildcard('Remote')] }, options);
    const publisher = await boot({ providers: [wildcard('Local')] }, options);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => publisher.bus.dispatch('wild.one', { i }, { trackRemote: { timeoutMs: 5_000 } })),
    );
    for (const result of results) {
      expect(result.errors).toEqual([]);
      const names = result.outcomes.map((o) => `${o.origin}:${o.listener}`);
      expect(names).toContain('remote:Receiverexact.on');
      expect(names).toContain('local:WildLocal.on');
    }
    expect(publisher.bus.stats().rejectedMessages).toBe(0);
  });

  it('redis-streams: every group reports, streams on several masters', async () => {
    const eventNames = names('streamed', 6);
    const options = { driver: 'redis-streams' as const, redis: { cluster: { nodes: cluster.startupNodes }, channelPrefix: 'tst:' } };
    const publisher = await fourReceivers(options, eventNames, (i) => ({ streams: { group: `svc${i}`, blockMs: 200, maxAttempts: 1 } }));
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) => publisher.bus.dispatch(eventNames[i % 6]!, { i }, { trackRemote: { timeoutMs: 8_000 } })),
    );
    for (const result of results) {
      expect(result.errors.filter((e) => e.cause instanceof RemoteTrackingTimeoutError)).toEqual([]);
      expect(result.outcomes).toHaveLength(4);
      expect(result.outcomes.filter((o) => !o.ok)).toHaveLength(1);
    }
  });
});
