import { InvalidOptionsError } from 'nestjs-event-bus';
import type { EventBusModuleOptions } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { clusterConnectionOptions } from '../../lib/drivers/redis/shared/redis-connection';
import { resolveEventBusOptions } from '../../lib/options/event-bus-options.validator';

/** redis.cluster, redis.sentinels + name, redis.sharded and streams.waitReplicas: shapes checked at start-up. */
describe('cluster and Sentinel options are validated at start-up', () => {
  const refusal = (options: unknown): InvalidOptionsError => {
    try {
      resolveEventBusOptions(options as EventBusModuleOptions);
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidOptionsError);
      return err as InvalidOptionsError;
    }
    throw new Error(`accepted ${JSON.stringify(options)}`);
  };

  it('accepts a cluster with seed nodes and options, and Sentinels with a master name', () => {
    const cluster = { nodes: [{ host: '10.0.0.1', port: 7000 }, '10.0.0.2:7000'], options: { scaleReads: 'master' as const } };
    expect(resolveEventBusOptions({ driver: 'redis', redis: { cluster, sharded: true } }).redis.cluster).toBe(cluster);
    const sentinels = [{ host: '10.0.0.1', port: 26379 }];
    expect(
      resolveEventBusOptions({ driver: 'redis-streams', redis: { sentinels, name: 'mymaster' }, streams: { waitReplicas: 1 } }).streams
        .waitReplicas,
    ).toBe(1);
  });

  it('refuses a cluster without seed nodes, with bad nodes or options, or next to another target', () => {
    expect(refusal({ driver: 'redis', redis: { cluster: { nodes: [] } } }).option).toBe('redis.cluster.nodes');
    expect(refusal({ driver: 'redis', redis: { cluster: { nodes: [{ host: '', port: 7000 }] } } }).message).toMatch(
      /non-empty array of seed nodes/,
    );
    expect(refusal({ driver: 'redis', redis: { cluster: 'redis://x:7000' } }).message).toMatch(/must be an object such as \{ nodes:/);
    expect(refusal({ driver: 'redis', redis: { cluster: { nodes: [7000], options: 3 } } }).option).toBe('redis.cluster.options');
    expect(refusal({ driver: 'redis', redis: { cluster: { nodes: [7000] }, url: 'redis://h:6379' } }).message).toMatch(
      /'redis\.cluster' and redis\.url name two different targets/,
    );
  });

  it('refuses Sentinels without a master name or as a non-array', () => {
    const noName = refusal({ driver: 'redis', redis: { sentinels: [{ host: 'h', port: 26379 }] } });
    expect(noName.option).toBe('redis.name');
    expect(noName.message).toMatch(/master group's name the Sentinels monitor/);
    expect(refusal({ driver: 'redis', redis: { sentinels: { host: 'h' }, name: 'm' } }).option).toBe('redis.sentinels');
  });

  it('refuses a non-boolean sharded and a negative or fractional waitReplicas', () => {
    expect(refusal({ driver: 'redis', redis: { cluster: { nodes: [7000] }, sharded: 'yes' } }).option).toBe('redis.sharded');
    expect(refusal({ driver: 'redis-streams', redis: { url: 'redis://h:6379' }, streams: { waitReplicas: -1 } }).option).toBe(
      'streams.waitReplicas',
    );
    expect(refusal({ driver: 'redis-streams', redis: { url: 'redis://h:6379' }, streams: { waitReplicas: 1.5 } }).option).toBe(
      'streams.waitReplicas',
    );
  });
});

describe('connection options on a Cluster', () => {
  it('puts a role queueing options at the Cluster level and turns off failover retries for fail-fast roles', () => {
    const options = clusterConnectionOptions({
      scaleReads: 'master',
      redisOptions: { password: 'p', enableOfflineQueue: false, lazyConnect: true, autoResendUnfulfilledCommands: false } as never,
    });
    expect(options).toMatchObject({
      scaleReads: 'master',
      enableOfflineQueue: false,
      lazyConnect: true,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
    });
    expect(options.redisOptions).toEqual({ password: 'p', autoResendUnfulfilledCommands: false });
    const subscriber = clusterConnectionOptions({ redisOptions: { enableOfflineQueue: true } as never }, { shardedSubscribers: true });
    expect(subscriber).toMatchObject({ enableOfflineQueue: true, shardedSubscribers: true });
    expect(subscriber.retryDelayOnFailover).toBeUndefined();
  });
});
