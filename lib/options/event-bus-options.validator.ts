import {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_MAX_ERRORS,
  DEFAULT_MAX_EVENT_SIZE,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_STRICT_TYPES,
} from '../event-bus.constants';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { DEFAULT_MAX_EVENT_DEPTH } from '../serialization/payload-safety';
import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { EventBusModuleOptions } from '../interfaces/event-bus-options.interface';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import type { ResolvedEventBusOptions } from './resolved-options.interface';

const DRIVER_NAMES = ['memory', 'redis', 'redis-streams'];
const TOP_LEVEL = ['driver', 'redis', 'streams', 'maxErrors', 'shutdownTimeoutMs', 'strictTypes', 'logErrors', 'tracking'];
const TRACKING_KEYS = ['maxInFlight', 'reportStacks'];
/** Tracked dispatches waiting for remote reports at once, by default. */
export const DEFAULT_MAX_TRACKED_IN_FLIGHT = 10_000;
const STREAM_KEYS = ['group', 'maxAttempts', 'claimIdleMs', 'maxLen', 'startFrom', 'blockMs', 'consumer', 'waitReplicas'];

/** Validates module options and fills in defaults; throws `InvalidOptionsError` naming the option. */
export function resolveEventBusOptions(input: EventBusModuleOptions | undefined | null): ResolvedEventBusOptions {
  const options = input ?? {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidOptionsError('options', `must be an object like { driver: 'memory' } (got ${describe(options)})`);
  }
  for (const key of Object.keys(options)) {
    if (!TOP_LEVEL.includes(key)) {
      throw new InvalidOptionsError(key, `is not an option; allowed: ${TOP_LEVEL.join(', ')}`);
    }
  }
  const driver = options.driver ?? 'memory';
  if (typeof driver === 'string') {
    if (!DRIVER_NAMES.includes(driver)) {
      throw new InvalidOptionsError(
        'driver',
        `must be one of 'memory', 'redis', 'redis-streams' or an EventBusDriver instance (got ${describe(driver)})`,
      );
    }
  } else if (!isDriver(driver)) {
    throw new InvalidOptionsError(
      'driver',
      `must be one of 'memory', 'redis', 'redis-streams' or an object with publish(), subscribe(), unsubscribe() and close() (got ${describe(driver)})`,
    );
  }
  const redis = options.redis ?? {};
  if (typeof redis !== 'object' || Array.isArray(redis)) {
    throw new InvalidOptionsError('redis', `must be an object such as { url: 'redis://127.0.0.1:6379' } (got ${describe(redis)})`);
  }
  if ((driver === 'redis' || driver === 'redis-streams') && options.redis === undefined) {
    throw new InvalidOptionsError('redis', `is required with driver '${driver}': give { url } or { host, port } or { client }`);
  }
  if (driver === 'redis' || driver === 'redis-streams') requireRedisTarget(redis as Record<string, unknown>);
  if (redis.url !== undefined && (typeof redis.url !== 'string' || !/^rediss?:\/\//.test(redis.url))) {
    throw new InvalidOptionsError('redis.url', `must be a redis:// or rediss:// URL (got ${describe(redis.url)})`);
  }
  if (redis.channelPrefix !== undefined && typeof redis.channelPrefix !== 'string') {
    throw new InvalidOptionsError('redis.channelPrefix', `must be a string such as 'goevent:' (got ${describe(redis.channelPrefix)})`);
  }
  positive(redis.maxEventSize, 'redis.maxEventSize', 'bytes');
  if (redis.maxEventDepth !== undefined && (!Number.isSafeInteger(redis.maxEventDepth) || redis.maxEventDepth < 1)) {
    throw new InvalidOptionsError(
      'redis.maxEventDepth',
      `must be a whole number >= 1, the nesting levels allowed inside event data (got ${describe(redis.maxEventDepth)})`,
    );
  }
  positive(redis.publishTimeoutMs, 'redis.publishTimeoutMs', 'ms');
  positive(redis.port, 'redis.port', '');
  validateRedisConnectionOptions(redis as Record<string, unknown>);
  validateDistributedTarget(redis as Record<string, unknown>);
  const streams = options.streams ?? {};
  if (typeof streams !== 'object' || Array.isArray(streams)) {
    throw new InvalidOptionsError('streams', `must be an object such as { group: 'billing' } (got ${describe(streams)})`);
  }
  for (const key of Object.keys(streams)) {
    if (!STREAM_KEYS.includes(key)) throw new InvalidOptionsError(`streams.${key}`, `is not an option; allowed: ${STREAM_KEYS.join(', ')}`);
  }
  if (streams.group !== undefined && (typeof streams.group !== 'string' || streams.group.length === 0)) {
    throw new InvalidOptionsError('streams.group', `must be a non-empty string, the service's name (got ${describe(streams.group)})`);
  }
  positive(streams.maxAttempts, 'streams.maxAttempts', '');
  positive(streams.claimIdleMs, 'streams.claimIdleMs', 'ms');
  positive(streams.maxLen, 'streams.maxLen', 'entries');
  positive(streams.blockMs, 'streams.blockMs', 'ms');
  if (streams.waitReplicas !== undefined && (!Number.isSafeInteger(streams.waitReplicas) || streams.waitReplicas < 0)) {
    throw new InvalidOptionsError(
      'streams.waitReplicas',
      `must be a whole number >= 0, the replicas that must have an append before its dispatch resolves (got ${describe(streams.waitReplicas)})`,
    );
  }
  if (streams.startFrom !== undefined && streams.startFrom !== 'new' && streams.startFrom !== 'beginning') {
    throw new InvalidOptionsError('streams.startFrom', `must be 'new' or 'beginning' (got ${describe(streams.startFrom)})`);
  }
  positive(options.maxErrors, 'maxErrors', 'errors');
  if (options.maxErrors !== undefined && !Number.isInteger(options.maxErrors)) {
    throw new InvalidOptionsError('maxErrors', `must be a whole positive number of errors (got ${describe(options.maxErrors)})`);
  }
  nonNegative(options.shutdownTimeoutMs, 'shutdownTimeoutMs', 'ms');
  if (options.strictTypes !== undefined && typeof options.strictTypes !== 'boolean') {
    throw new InvalidOptionsError('strictTypes', `must be true or false (got ${describe(options.strictTypes)})`);
  }
  const tracking = options.tracking ?? {};
  if (typeof tracking !== 'object' || tracking === null || Array.isArray(tracking)) {
    throw new InvalidOptionsError('tracking', `must be an object such as { maxInFlight: 10000 } (got ${describe(tracking)})`);
  }
  for (const key of Object.keys(tracking)) {
    if (!TRACKING_KEYS.includes(key))
      throw new InvalidOptionsError(`tracking.${key}`, `is not an option; allowed: ${TRACKING_KEYS.join(', ')}`);
  }
  if (tracking.maxInFlight !== undefined && (!Number.isSafeInteger(tracking.maxInFlight) || tracking.maxInFlight < 1)) {
    throw new InvalidOptionsError(
      'tracking.maxInFlight',
      `must be a whole number >= 1, the tracked dispatches that may wait for reports at once (got ${describe(tracking.maxInFlight)})`,
    );
  }
  if (tracking.reportStacks !== undefined && typeof tracking.reportStacks !== 'boolean') {
    throw new InvalidOptionsError('tracking.reportStacks', `must be true or false (got ${describe(tracking.reportStacks)})`);
  }
  if (options.logErrors !== undefined && typeof options.logErrors !== 'boolean') {
    throw new InvalidOptionsError('logErrors', `must be true or false (got ${describe(options.logErrors)})`);
  }
  return {
    driver,
    tracking: { maxInFlight: tracking.maxInFlight ?? DEFAULT_MAX_TRACKED_IN_FLIGHT, reportStacks: tracking.reportStacks ?? false },
    redis: {
      ...redis,
      channelPrefix: redis.channelPrefix ?? DEFAULT_CHANNEL_PREFIX,
      maxEventSize: redis.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE,
      maxEventDepth: redis.maxEventDepth ?? DEFAULT_MAX_EVENT_DEPTH,
      publishTimeoutMs: redis.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS,
    },
    streams,
    maxErrors: options.maxErrors ?? DEFAULT_MAX_ERRORS,
    shutdownTimeoutMs: options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    strictTypes: options.strictTypes ?? DEFAULT_STRICT_TYPES,
    logErrors: options.logErrors ?? true,
  };
}

const LISTENER_KEYS = ['async', 'retry', 'breaker', 'concurrency', 'maxQueue', 'overflow', 'timeoutMs', 'filter'];
const RETRY_KEYS = ['attempts', 'backoff'];
const BACKOFF_KEYS = ['baseMs', 'factor', 'maxMs', 'jitter'];
const BREAKER_KEYS = ['threshold', 'cooldownMs', 'whenOpen'];
/** Longest delay setTimeout honours (a longer one would fire at once). */
const MAX_DELAY_MS = 2_147_483_647;

/** Validates one listener's options; `where` names it (`EmailNotifier.handle`). */
export function validateListenerOptions(options: ListenerOptions, where: string): void {
  const fail = (option: string, message: string): never => {
    throw new InvalidOptionsError(option, message, where);
  };
  if (options === null || typeof options !== 'object') {
    fail('options', `must be an object such as { async: true } (got ${describe(options)})`);
  }
  for (const key of Object.keys(options)) {
    if (!LISTENER_KEYS.includes(key)) fail(key, `is not a listener option; allowed: ${LISTENER_KEYS.join(', ')}`);
  }
  if (options.async !== undefined && typeof options.async !== 'boolean') {
    fail('async', `must be true or false (got ${describe(options.async)})`);
  }
  if (options.filter !== undefined && typeof options.filter !== 'function') {
    fail('filter', `must be a function (event) => boolean (got ${describe(options.filter)})`);
  }
  const { retry, breaker } = options;
  if (retry !== undefined) {
    objectWithKeys(retry, 'retry', RETRY_KEYS, '{ attempts: 3, backoff: { baseMs: 100 } }', fail);
    integerAtLeast(retry.attempts, 1, 'retry.attempts', 'calls in all, the first included (1 = no retry)', fail, true);
    const backoff = retry.backoff;
    if (backoff !== undefined) {
      objectWithKeys(backoff, 'retry.backoff', BACKOFF_KEYS, '{ baseMs: 100, factor: 2, maxMs: 10000, jitter: true }', fail);
      delay(backoff.baseMs, 'retry.backoff.baseMs', 0, fail);
      if (backoff.factor !== undefined && (typeof backoff.factor !== 'number' || !Number.isFinite(backoff.factor) || backoff.factor < 1)) {
        fail('retry.backoff.factor', `must be a number >= 1 (got ${describe(backoff.factor)})`);
      }
      delay(backoff.maxMs, 'retry.backoff.maxMs', 0, fail);
      if (backoff.maxMs !== undefined && backoff.baseMs !== undefined && backoff.maxMs < backoff.baseMs) {
        fail('retry.backoff.maxMs', `must be >= retry.backoff.baseMs (${backoff.baseMs}) (got ${backoff.maxMs})`);
      }
      if (backoff.jitter !== undefined && typeof backoff.jitter !== 'boolean') {
        fail('retry.backoff.jitter', `must be true or false (got ${describe(backoff.jitter)})`);
      }
    }
  }
  if (breaker !== undefined) {
    objectWithKeys(breaker, 'breaker', BREAKER_KEYS, "{ threshold: 5, cooldownMs: 1000, whenOpen: 'fail' }", fail);
    integerAtLeast(breaker.threshold, 1, 'breaker.threshold', 'consecutive failures that open it', fail, true);
    if (breaker.cooldownMs === undefined) fail('breaker.cooldownMs', 'is required: ms the breaker stays open, e.g. 1000');
    delay(breaker.cooldownMs, 'breaker.cooldownMs', 1, fail);
    if (breaker.whenOpen !== undefined && breaker.whenOpen !== 'fail' && breaker.whenOpen !== 'hold') {
      fail('breaker.whenOpen', `must be 'fail' or 'hold' (got ${describe(breaker.whenOpen)})`);
    }
  }
  integerAtLeast(options.concurrency, 1, 'concurrency', 'calls running at once', fail, false);
  if (options.maxQueue !== Number.POSITIVE_INFINITY) {
    integerAtLeast(options.maxQueue, 0, 'maxQueue', 'events waiting for a slot, or Infinity for no bound', fail, false);
  }
  if (options.maxQueue !== undefined && options.concurrency === undefined) {
    fail('maxQueue', 'needs concurrency: events only wait when concurrency calls are running (add e.g. concurrency: 1)');
  }
  if (options.overflow !== undefined) {
    if (options.overflow !== 'reject' && options.overflow !== 'drop-oldest') {
      fail('overflow', `must be 'reject' or 'drop-oldest' (got ${describe(options.overflow)})`);
    }
    if (options.concurrency === undefined) fail('overflow', 'needs concurrency: events only queue when concurrency calls are running');
    if (options.maxQueue === Number.POSITIVE_INFINITY)
      fail('overflow', 'has no effect with maxQueue: Infinity (an unbounded queue never overflows)');
  }
  delay(options.timeoutMs, 'timeoutMs', 1, fail);
}

function objectWithKeys(
  value: unknown,
  option: string,
  keys: string[],
  example: string,
  fail: (option: string, message: string) => never,
): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(option, `must be an object such as ${example} (got ${describe(value)})`);
  }
  for (const key of Object.keys(value as object)) {
    if (!keys.includes(key)) fail(`${option}.${key}`, `is not an option; allowed: ${keys.join(', ')}`);
  }
}

function integerAtLeast(
  value: unknown,
  min: number,
  option: string,
  what: string,
  fail: (option: string, message: string) => never,
  required: boolean,
): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(option, `must be an integer >= ${min}, ${what} (got ${describe(value)})`);
  }
}

function delay(value: unknown, option: string, min: number, fail: (option: string, message: string) => never): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_DELAY_MS) {
    fail(option, `must be a number of ms from ${min} to ${MAX_DELAY_MS} (got ${describe(value)})`);
  }
}

/** Keys that name the server(s) a redis block connects to. */
const REDIS_TARGETS = ['url', 'host', 'path', 'client', 'cluster', 'sentinels'];
const HOW_TO_NAME_A_TARGET =
  "give redis.url ('redis://host:6379' or 'rediss://' for TLS), redis.host (and redis.port), redis.client, redis.cluster or redis.sentinels";

/**
 * ioredis connects to 127.0.0.1:6379 when it is given no address, so a block whose address came from an
 * unset environment variable would silently reach whatever Redis runs locally: refuse it instead.
 */
function requireRedisTarget(redis: Record<string, unknown>): void {
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
function validateRedisConnectionOptions(redis: Record<string, unknown>): void {
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
function validateDistributedTarget(redis: Record<string, unknown>): void {
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

export function positive(value: unknown, option: string, unit: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionsError(option, `must be a positive number${unit ? ` of ${unit}` : ''} (got ${describe(value)})`);
  }
}

export function nonNegative(value: unknown, option: string, unit: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionsError(option, `must be a number >= 0${unit ? ` of ${unit}` : ''} (got ${describe(value)})`);
  }
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return `function ${value.name || 'anonymous'}`;
  if (value !== null && typeof value === 'object')
    return value.constructor?.name === 'Object' ? JSON.stringify(value) : `a ${value.constructor?.name ?? 'object'}`;
  return String(value);
}

function isDriver(value: unknown): value is EventBusDriver {
  if (value === null || typeof value !== 'object') return false;
  const d = value as Record<string, unknown>;
  return ['publish', 'subscribe', 'unsubscribe', 'close'].every((m) => typeof d[m] === 'function');
}
