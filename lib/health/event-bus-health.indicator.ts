import { Injectable } from '@nestjs/common';
import type { HealthIndicatorService } from '@nestjs/terminus';
import { BusRuntime } from '../core/bus-runtime';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import type { ConsumerGroupInfo, DriverHealth } from '../interfaces/event-bus-driver.interface';
import { isPattern } from '../routing/event-pattern';
import { ownGroups } from '../telemetry/group-stats-cache';

/** The Redis drivers' default `connectTimeout` (not imported: a memory app loads no driver file). */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const TIMED_OUT: unique symbol = Symbol('timed out');

/** Limits `isHealthy()` checks on redis-streams (each one per consumer group of this app). */
export interface EventBusHealthLimits {
  /** Most entries a group may have not yet delivered. */
  maxLag?: number;
  /** Most entries a group may hold delivered and unacknowledged. */
  maxPending?: number;
  /** Most entries an event's dead-letter stream may hold. */
  maxDeadLetters?: number;
}

/** One consumer group in the health details. */
export interface EventBusHealthGroup {
  readonly event: string;
  readonly group: string;
  readonly consumers: number;
  readonly lag: number | null;
  readonly pending: number;
  readonly deadLetters: number;
}

/** What `isHealthy()` reports under its key (the shape `@nestjs/terminus` expects). */
export interface EventBusHealthDetails {
  readonly status: 'up' | 'down';
  readonly driver: string;
  /** The bus's lifecycle state: `ready` once the app is initialised. */
  readonly state: string;
  readonly connected: boolean;
  readonly connections: Readonly<Record<string, string>>;
  readonly consumers?: number;
  readonly groups?: readonly EventBusHealthGroup[];
  /** Why it is down. */
  readonly reasons?: readonly string[];
  readonly [detail: string]: unknown;
}

export type EventBusHealthResult<Key extends string = string> = Record<Key, EventBusHealthDetails>;

/**
 * A health indicator for `@nestjs/terminus` (an optional peer, loaded on the first check):
 * `health.check([() => indicator.isHealthy('event-bus', { maxLag: 1000 })])`. Up when the driver is
 * connected, its consumers run and the limits hold; it answers within `redis.connectTimeout` even
 * when Redis does not answer at all.
 */
@Injectable()
export class EventBusHealthIndicator {
  /** @internal */
  private indicators: HealthIndicatorService | undefined;
  /** @internal */
  private readonly runtime: BusRuntime;

  /** @internal Built by the module (inject `EventBusHealthIndicator`). */
  constructor(runtime: BusRuntime) {
    this.runtime = runtime;
  }

  async isHealthy<const Key extends string = 'event-bus'>(
    key: Key = 'event-bus' as Key,
    limits: EventBusHealthLimits = {},
  ): Promise<EventBusHealthResult<Key>> {
    checkLimits(limits);
    const session = (this.indicators ??= await loadIndicatorService()).check(key);
    const options = this.runtime.getOptions();
    const driver = this.runtime.getDriver();
    const driverName = options === undefined ? 'unknown' : typeof options.driver === 'string' ? options.driver : 'custom';
    const state = this.runtime.lifecycle.state;
    const timeoutMs = options?.redis.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    const reasons: string[] = [];
    if (state !== 'ready') reasons.push(`the event bus is ${state}, not ready`);
    const [health, groups] = await Promise.all([
      driver?.health === undefined ? undefined : bounded(driver.health(timeoutMs), deadline, timeoutMs),
      driver?.consumerGroups === undefined || state !== 'ready' ? undefined : bounded(this.readGroups(), deadline, timeoutMs),
    ]);
    let connection: DriverHealth = { connected: driver !== undefined, connections: {} };
    if (health instanceof Error) connection = { connected: false, connections: {}, error: health.message };
    else if (health !== undefined) connection = health;
    if (!connection.connected) reasons.push(connection.error ?? 'the driver is not connected');
    let groupDetails: EventBusHealthGroup[] | undefined;
    if (groups instanceof Error) {
      if (connection.connected) reasons.push(`could not read the consumer groups: ${groups.message}`);
    } else if (groups !== undefined) {
      groupDetails = groups.map((g) => ({
        event: g.eventName,
        group: g.group,
        consumers: g.consumers,
        lag: g.lag,
        pending: g.pending,
        deadLetters: g.deadLetters,
      }));
      reasons.push(...overLimits(groupDetails, limits));
    }
    const details = {
      driver: driverName,
      state,
      connected: connection.connected,
      connections: connection.connections,
      ...(connection.consumers !== undefined ? { consumers: connection.consumers } : {}),
      ...(groupDetails !== undefined ? { groups: groupDetails } : {}),
    };
    const result = reasons.length === 0 ? session.up(details) : session.down({ ...details, reasons });
    return result as unknown as EventBusHealthResult<Key>;
  }

  /** @internal */
  private async readGroups(): Promise<ConsumerGroupInfo[]> {
    const inspector = this.runtime.getDriver()!.consumerGroups!;
    const names = [...new Set(this.runtime.index.entries().map((e) => e.key))].filter((k) => !isPattern(k));
    return ownGroups(await inspector.groups(names), inspector.serviceGroup);
  }
}

/** `promise`'s value, or an Error when it failed or was not done by `deadline`. */
async function bounded<T>(promise: Promise<T>, deadline: number, timeoutMs: number): Promise<T | Error> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
  });
  try {
    const value = await Promise.race([promise, late]);
    if (value === TIMED_OUT) return new Error(`no answer from Redis within connectTimeout (${timeoutMs} ms)`);
    return value;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  } finally {
    clearTimeout(timer);
  }
}

function overLimits(groups: readonly EventBusHealthGroup[], limits: EventBusHealthLimits): string[] {
  const out: string[] = [];
  for (const g of groups) {
    const where = `group '${g.group}' of '${g.event}'`;
    if (limits.maxLag !== undefined && g.lag !== null && g.lag > limits.maxLag)
      out.push(`${where} lags ${g.lag} entries (maxLag ${limits.maxLag})`);
    if (limits.maxPending !== undefined && g.pending > limits.maxPending) {
      out.push(`${where} has ${g.pending} pending entries (maxPending ${limits.maxPending})`);
    }
    if (limits.maxDeadLetters !== undefined && g.deadLetters > limits.maxDeadLetters) {
      out.push(`'${g.event}' has ${g.deadLetters} dead letters (maxDeadLetters ${limits.maxDeadLetters})`);
    }
  }
  return out;
}

function checkLimits(limits: EventBusHealthLimits): void {
  for (const name of ['maxLag', 'maxPending', 'maxDeadLetters'] as const) {
    const value = limits[name];
    if (value !== undefined && (typeof value !== 'number' || !(value >= 0))) {
      throw new InvalidOptionsError(name, `must be a number >= 0 (got ${String(value)})`);
    }
  }
}

async function loadIndicatorService(): Promise<HealthIndicatorService> {
  let terminus: typeof import('@nestjs/terminus');
  try {
    terminus = await import('@nestjs/terminus');
  } catch (err) {
    throw new Error(
      `EventBusHealthIndicator needs the optional peer dependency @nestjs/terminus (${(err as Error)?.message ?? String(err)}): npm install @nestjs/terminus`,
    );
  }
  return new terminus.HealthIndicatorService();
}
