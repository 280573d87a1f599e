import {
  DEFAULT_CHANNEL_PREFIX,
  DEFAULT_MAX_ERRORS,
  DEFAULT_MAX_EVENT_SIZE,
  DEFAULT_PUBLISH_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_TIMEOUT_MS,
  DEFAULT_STRICT_TYPES,
  DEFAULT_GROUP_STATS_CACHE_MS,
} from '../event-bus.constants';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { DEFAULT_MAX_EVENT_DEPTH } from '../serialization/payload-safety';
import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { EventBusModuleOptions } from '../interfaces/event-bus-options.interface';
import type { ResolvedEventBusOptions } from './resolved-options.interface';
import { describe, nonNegative, positive } from './option-checks';
import { rejectKeyPrefix, requireRedisTarget, validateDistributedTarget, validateRedisConnectionOptions } from './redis-target.validator';

const DRIVER_NAMES = ['memory', 'redis', 'redis-streams'];
const TOP_LEVEL = ['driver', 'redis', 'streams', 'maxErrors', 'shutdownTimeoutMs', 'strictTypes', 'logErrors', 'tracking', 'telemetry'];
const TRACKING_KEYS = ['maxInFlight', 'reportStacks'];
/** Tracked dispatches waiting for remote reports at once, by default. */
export const DEFAULT_MAX_TRACKED_IN_FLIGHT = 10_000;
const TELEMETRY_KEYS = ['tracing', 'metrics', 'groupStatsCacheMs'];
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
  if (driver === 'redis-streams') rejectKeyPrefix(redis as Record<string, unknown>);
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
  const telemetry = resolveTelemetry(options.telemetry);
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
    telemetry,
  };
}

function resolveTelemetry(input: unknown): ResolvedEventBusOptions['telemetry'] {
  const telemetry = input ?? {};
  if (typeof telemetry !== 'object' || Array.isArray(telemetry)) {
    throw new InvalidOptionsError('telemetry', `must be an object such as { tracing: true, metrics: true } (got ${describe(telemetry)})`);
  }
  const t = telemetry as Record<string, unknown>;
  for (const key of Object.keys(t)) {
    if (!TELEMETRY_KEYS.includes(key))
      throw new InvalidOptionsError(`telemetry.${key}`, `is not an option; allowed: ${TELEMETRY_KEYS.join(', ')}`);
  }
  for (const key of ['tracing', 'metrics']) {
    if (t[key] !== undefined && typeof t[key] !== 'boolean') {
      throw new InvalidOptionsError(`telemetry.${key}`, `must be true or false (got ${describe(t[key])})`);
    }
  }
  positive(t.groupStatsCacheMs, 'telemetry.groupStatsCacheMs', 'ms');
  return {
    tracing: t.tracing === true,
    metrics: t.metrics === true,
    groupStatsCacheMs: (t.groupStatsCacheMs as number | undefined) ?? DEFAULT_GROUP_STATS_CACHE_MS,
  };
}

function isDriver(value: unknown): value is EventBusDriver {
  if (value === null || typeof value !== 'object') return false;
  const d = value as Record<string, unknown>;
  return ['publish', 'subscribe', 'unsubscribe', 'close'].every((m) => typeof d[m] === 'function');
}
