import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type { EventBusDriver } from './event-bus-driver.interface';

export type DriverName = 'memory' | 'redis' | 'redis-streams';

/** Connection options shared by the redis drivers (goevent's RedisConfig and more). */
export interface RedisDriverOptions extends Omit<RedisOptions, 'host' | 'port' | 'tls'> {
  /** `redis://[user:pass@]host:port/db` or `rediss://` for TLS. */
  url?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  db?: number;
  /** `true` for TLS with default settings, or Node's TLS options. */
  tls?: boolean | RedisOptions['tls'];
  /** Prefix of every channel and stream key. Default `goevent:` (interoperates with goevent). */
  channelPrefix?: string;
  /** Largest encoded event in bytes, sent or received. Default 1 MiB. */
  maxEventSize?: number;
  /**
   * Nesting levels of objects and arrays allowed inside event data, sent or received (`{ a: 1 }` is
   * one level). Deeper events are refused at dispatch and rejected on receipt. Default 64.
   */
  maxEventDepth?: number;
  /** How long a dispatch waits for an unreachable Redis before failing. Default 10 000 ms. */
  publishTimeoutMs?: number;
  connectTimeout?: number;
  commandTimeout?: number;
  /** An existing client (or Cluster). The module duplicates it where it needs more connections and never closes it. */
  client?: Redis | Cluster;
  /**
   * A Redis Cluster to connect to: its seed nodes and ioredis `ClusterOptions`. The other connection
   * options of this block (`password`, `tls`, `connectTimeout`…) apply to every node.
   */
  cluster?: RedisClusterOptions;
  /**
   * Driver `redis` on a cluster: sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis >= 7, ioredis >= 5.10)
   * instead of classic PUBLISH/SUBSCRIBE. Scales with the shards; not heard by classic subscribers
   * (goevent), and wildcard listeners cannot be sharded. Default false.
   */
  sharded?: boolean;
}

/** Where a Redis Cluster is: seed nodes (one reachable node is enough) and ioredis cluster options. */
export interface RedisClusterOptions {
  nodes: ClusterNode[];
  options?: ClusterOptions;
}

export interface StreamsDriverOptions {
  /** The service's name; consumer groups are `group:Class.method`. Required when the app has listeners. */
  group?: string;
  /** Attempts before an entry goes to the dead-letter stream. Default 5. */
  maxAttempts?: number;
  /** Idle time after which another consumer reclaims a pending entry. Default 30 000 ms. */
  claimIdleMs?: number;
  /** Approximate cap of each stream. Default 100 000. */
  maxLen?: number;
  /** Where a new consumer group starts. Default `'new'`. */
  startFrom?: 'new' | 'beginning';
  /** XREADGROUP BLOCK in ms. Default 2 000. */
  blockMs?: number;
  /** This replica's consumer name. Default `hostname-pid-random`. */
  consumer?: string;
  /**
   * Replicas that must have an append before its dispatch resolves (Redis WAIT). Default 0. An append
   * not confirmed within `redis.publishTimeoutMs` fails with `DriverUnavailableError` (it may still be
   * delivered). Costs a round trip to the replicas per batch of appends.
   */
  waitReplicas?: number;
}

export interface EventBusModuleOptions {
  /** `'memory'` (default), `'redis'`, `'redis-streams'`, or an `EventBusDriver` instance. */
  driver?: DriverName | EventBusDriver;
  redis?: RedisDriverOptions;
  streams?: StreamsDriverOptions;
  /** Bound of the global error list (`getErrors()`); the oldest are dropped. Default 1000. */
  maxErrors?: number;
  /** How long shutdown waits for in-flight listeners. Default 10 000 ms. */
  shutdownTimeoutMs?: number;
  /** Reject received events whose `event_type` is not registered. Default false. */
  strictTypes?: boolean;
  /**
   * Log listener, publisher and receive errors through Nest's `Logger` (context `EventBus`): once
   * each, a few lines per kind of error per 10 s and then a summary with the count. Default true.
   */
  logErrors?: boolean;
  /** Dispatches tracked across processes (`dispatch(event, { trackRemote: true })`). */
  tracking?: TrackingOptions;
}

export interface TrackingOptions {
  /**
   * Tracked dispatches that may wait for remote reports at once; past it a tracked dispatch fails at
   * once with `TrackingLimitError`. Default 10 000.
   */
  maxInFlight?: number;
  /** This app's reports include the stack of a failed listener (receiving side). Default false. */
  reportStacks?: boolean;
}

/** What a class given to `forRootAsync({ useClass })` or `{ useExisting }` implements. */
export interface EventBusOptionsFactory {
  createEventBusOptions(): EventBusModuleOptions | Promise<EventBusModuleOptions>;
}
