import { InvalidOptionsError } from '../errors/invalid-options.error';
import { describe, positive } from './option-checks';

/** Keys that name the server(s) a redis block connects to. */
const REDIS_TARGETS = ['url', 'host', 'path', 'client', 'cluster', 'sentinels'];
const HOW_TO_NAME_A_TARGET =
  "give redis.url ('redis://host:6379' or 'rediss://' for TLS), redis.host (and redis.port), redis.client, redis.cluster or redis.sentinels";

/**
 * ioredis connects to 127.0.0.1:6379 when it is given no address, so a block whose address came from an
 * unset environment variable would silently reach whatever Redis runs locally: refuse it instead.
 */
export function requireRedisTarget(redis: Record<string, unknown>): void {
  const unset = (key: string): boolean => redis[key] === undefined || redis[key] === null || redis[key] === '';
  if (redis.url === '' || redis.url === null) {
    throw new InvalidOptionsError(
      'redis.url',
      `is ${describe(redis.url)} (an unset environment variable such as REDIS_URL?): ${HOW_TO_NAME_A_TARGET}; there is no default of 127.0.0.1:6379`,
    );
  }
  if (!REDIS_TARGETS.every(unset)) return;
  const given = ['url', 'host'].find((key) => key in redis);
  if (given !== undefined) {
    throw new InvalidOptionsError(
      `redis.${given}`,
      `is ${describe(redis[given])} (an unset environment variable such as ${given === 'url' ? 'REDIS_URL' : 'REDIS_HOST'}?) and nothing else names a Redis server: ${HOW_TO_NAME_A_TARGET}; there is no default of 127.0.0.1:6379`,
    );
  }
  throw new InvalidOptionsError(
    'redis.url',
    `is missing: the redis block names no Redis server; ${HOW_TO_NAME_A_TARGET}; there is no default of 127.0.0.1:6379`,
  );
}

/** The connection options the contract names: a wrong type would otherwise surface later as a vague connection error. */
export function validateRedisConnectionOptions(redis: Record<string, unknown>): void {
  for (const key of ['host', 'username', 'password']) {
    if (redis[key] !== undefined && typeof redis[key] !== 'string') {
      throw new InvalidOptionsError(`redis.${key}`, `must be a string (got ${describe(redis[key])})`);
    }
  }
  if (redis.db !== undefined && (typeof redis.db !== 'number' || !Number.isSafeInteger(redis.db) || redis.db < 0)) {
    throw new InvalidOptionsError('redis.db', `must be an integer >= 0, the database index (got ${describe(redis.db)})`);
  }
  if (redis.tls !== undefined && typeof redis.tls !== 'boolean' && (redis.tls === null || typeof redis.tls !== 'object')) {
    throw new InvalidOptionsError(
      'redis.tls',
      `must be true, false or an object of TLS options such as { ca } (got ${describe(redis.tls)})`,
    );
  }
  positive(redis.connectTimeout, 'redis.connectTimeout', 'ms');
  positive(redis.commandTimeout, 'redis.commandTimeout', 'ms');
  const client = redis.client as { duplicate?: unknown } | null | undefined;
  if (client !== undefined && (client === null || typeof client !== 'object' || typeof client.duplicate !== 'function')) {
    throw new InvalidOptionsError('redis.client', `must be an ioredis Redis or Cluster instance (got ${describe(client)})`);
  }
}

/**
 * redis-streams names its streams and consumer groups itself, under `channelPrefix`. ioredis's
 * `keyPrefix` would prefix some of those keys and not others (script arguments, tracking prefixes),
 * so events would go to streams nobody reads: refuse it at start-up instead.
 */
export function rejectKeyPrefix(redis: Record<string, unknown>): void {
  const client = redis.client as { options?: { keyPrefix?: unknown; redisOptions?: { keyPrefix?: unknown } } } | undefined;
  const cluster = redis.cluster as { options?: { keyPrefix?: unknown; redisOptions?: { keyPrefix?: unknown } } } | undefined;
  const found: Array<[string, unknown]> = [
    ['redis.keyPrefix', redis.keyPrefix],
    ['redis.client', client?.options?.keyPrefix ?? client?.options?.redisOptions?.keyPrefix],
    ['redis.cluster.options', cluster?.options?.keyPrefix ?? cluster?.options?.redisOptions?.keyPrefix],
  ];
  for (const [where, prefix] of found) {
    if (prefix === undefined || prefix === '') continue;
    throw new InvalidOptionsError(
      where,
      `sets ioredis keyPrefix ${describe(prefix)}, which driver 'redis-streams' does not support: put the prefix in redis.channelPrefix ` +
        `(channelPrefix: ${describe(String(prefix) + 'goevent:')}) and give a client without keyPrefix`,
    );
  }
}

/** A seed node: 'host:port', a port, or { host, port }. */
function isSeedNode(node: unknown): boolean {
  if (typeof node === 'string') return node.length > 0;
  if (typeof node === 'number') return Number.isSafeInteger(node) && node > 0;
  if (node === null || typeof node !== 'object') return false;
  const { host, port } = node as { host?: unknown; port?: unknown };
  return (
    (host === undefined || (typeof host === 'string' && host.length > 0)) && (port === undefined || (typeof port === 'number' && port > 0))
  );
}

/** The cluster, Sentinel and sharding options: wrong shapes fail here rather than as a vague connection error later. */
export function validateDistributedTarget(redis: Record<string, unknown>): void {
  const cluster = redis.cluster as { nodes?: unknown; options?: unknown } | null | undefined;
  if (cluster !== undefined) {
    if (cluster === null || typeof cluster !== 'object' || Array.isArray(cluster)) {
      throw new InvalidOptionsError(
        'redis.cluster',
        `must be an object such as { nodes: [{ host: '10.0.0.1', port: 7000 }], options: {} } (got ${describe(cluster)})`,
      );
    }
    if (!Array.isArray(cluster.nodes) || cluster.nodes.length === 0 || !cluster.nodes.every(isSeedNode)) {
      throw new InvalidOptionsError(
        'redis.cluster.nodes',
        `must be a non-empty array of seed nodes ({ host, port } or 'host:port'); one reachable node is enough (got ${describe(cluster.nodes)})`,
      );
    }
    if (
      cluster.options !== undefined &&
      (cluster.options === null || typeof cluster.options !== 'object' || Array.isArray(cluster.options))
    ) {
      throw new InvalidOptionsError(
        'redis.cluster.options',
        `must be an object of ioredis ClusterOptions (got ${describe(cluster.options)})`,
      );
    }
    for (const other of ['client', 'url', 'sentinels']) {
      if (redis[other] !== undefined) {
        throw new InvalidOptionsError('redis.cluster', `and redis.${other} name two different targets: give one of them`);
      }
    }
  }
  const sentinels = redis.sentinels;
  if (sentinels !== undefined) {
    if (!Array.isArray(sentinels) || sentinels.length === 0 || !sentinels.every(isSeedNode)) {
      throw new InvalidOptionsError(
        'redis.sentinels',
        `must be a non-empty array of Sentinels such as [{ host: '10.0.0.1', port: 26379 }] (got ${describe(sentinels)})`,
      );
    }
    if (typeof redis.name !== 'string' || redis.name.length === 0) {
      throw new InvalidOptionsError(
        'redis.name',
        `is required with redis.sentinels: the master group's name the Sentinels monitor, such as 'mymaster' (got ${describe(redis.name)})`,
      );
    }
  }
  if (redis.sharded !== undefined && typeof redis.sharded !== 'boolean') {
    throw new InvalidOptionsError('redis.sharded', `must be true or false (got ${describe(redis.sharded)})`);
  }
}
