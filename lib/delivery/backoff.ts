import type { BackoffOptions } from '../interfaces/listener-options.interface';

export const DEFAULT_BACKOFF = { baseMs: 100, factor: 2, maxMs: 10_000, jitter: false } as const;

/** Longest exponent tried: `factor ** n` is Infinity (or 0) long before, and the cap keeps the maths cheap. */
const MAX_EXPONENT = 4096;

/** A listener's `retry.backoff` with every default filled in. */
export interface BackoffSchedule {
  readonly baseMs: number;
  readonly factor: number;
  readonly maxMs: number;
  readonly jitter: boolean;
}

/**
 * The one retry schedule of the package: the in-process retry policy and the redis-streams
 * redeliveries both wait what it says. A `baseMs` above the default `maxMs` raises the cap to
 * `baseMs` (a listener asking for 20 s between attempts waits 20 s, not 10 s).
 */
export function backoffSchedule(options: BackoffOptions = {}): BackoffSchedule {
  const baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
  return {
    baseMs,
    factor: options.factor ?? DEFAULT_BACKOFF.factor,
    maxMs: Math.max(0, options.maxMs ?? Math.max(DEFAULT_BACKOFF.maxMs, baseMs)),
    jitter: options.jitter ?? DEFAULT_BACKOFF.jitter,
  };
}

/**
 * The un-jittered wait after `failures` consecutive failures: `baseMs * factor^(failures-1)`,
 * never more than `maxMs`, never less than 0, whatever `failures` is (go-events shifts
 * `1 << failures` and goes negative after ~34). 0 before any failure.
 */
export function backoffDelay(schedule: BackoffSchedule, failures: number): number {
  if (!(failures >= 1) || schedule.baseMs <= 0) return 0;
  // `!(raw <= maxMs)` also catches NaN and Infinity.
  const raw = schedule.baseMs * schedule.factor ** Math.min(failures - 1, MAX_EXPONENT);
  return raw <= schedule.maxMs ? Math.max(0, raw) : schedule.maxMs;
}

/** The wait after `failures` failures, drawn in `[0, delay]` when the schedule asks for jitter. */
export function jitteredBackoffDelay(schedule: BackoffSchedule, failures: number, random: () => number = Math.random): number {
  const delay = backoffDelay(schedule, failures);
  if (!schedule.jitter || delay === 0) return delay;
  const r = random();
  return Math.min(delay, Math.max(0, (Number.isFinite(r) ? r : 0) * delay));
}

/**
 * docker/go-events' ExponentialBackoff, without its overflow: the wait grows with consecutive
 * failures (see `backoffDelay`) and drops back to nothing on a success. The retry policy keeps
 * one per event.
 */
export class ExponentialBackoff implements BackoffSchedule {
  readonly baseMs: number;
  readonly factor: number;
  readonly maxMs: number;
  readonly jitter: boolean;
  private failures = 0;

  constructor(
    options: BackoffOptions = {},
    /** Source of jitter in [0, 1); injectable for tests. */
    private readonly random: () => number = Math.random,
  ) {
    const schedule = backoffSchedule(options);
    this.baseMs = schedule.baseMs;
    this.factor = schedule.factor;
    this.maxMs = schedule.maxMs;
    this.jitter = schedule.jitter;
  }

  /** Consecutive failures since the last success. */
  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Records a failure and returns how long to wait before the next attempt. */
  failure(): number {
    if (this.failures < Number.MAX_SAFE_INTEGER) this.failures++;
    return this.current();
  }

  /** Records a success: the next failure waits `baseMs` again. */
  success(): void {
    this.failures = 0;
  }

  /** The wait now: 0 after a success, else the bounded delay (jittered in [0, delay] when asked). */
  current(): number {
    return jitteredBackoffDelay(this, this.failures, this.random);
  }

  /** The un-jittered wait after `failures` consecutive failures: in [0, maxMs] for any input. */
  delayFor(failures: number): number {
    return backoffDelay(this, failures);
  }
}
