import type { BackoffOptions } from '../interfaces/listener-options.interface';

export const DEFAULT_BACKOFF = { baseMs: 100, factor: 2, maxMs: 10_000, jitter: false } as const;

/**
 * docker/go-events' ExponentialBackoff, without its overflow: the wait grows with consecutive
 * failures and drops back to nothing on a success. The n-th consecutive failure waits
 * `baseMs * factor^(n-1)`, never more than `maxMs`, never less than 0, whatever n is (go-events
 * shifts `1 << failures` and goes negative after ~34). The retry policy keeps one per event.
 */
export class ExponentialBackoff {
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
    this.baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
    this.factor = options.factor ?? DEFAULT_BACKOFF.factor;
    this.maxMs = Math.max(0, options.maxMs ?? Math.max(DEFAULT_BACKOFF.maxMs, this.baseMs));
    this.jitter = options.jitter ?? DEFAULT_BACKOFF.jitter;
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
    const delay = this.delayFor(this.failures);
    if (!this.jitter || delay === 0) return delay;
    const r = this.random();
    return Math.min(delay, Math.max(0, (Number.isFinite(r) ? r : 0) * delay));
  }

  /** The un-jittered wait after `failures` consecutive failures: in [0, maxMs] for any input. */
  delayFor(failures: number): number {
    if (!(failures >= 1) || this.baseMs <= 0) return 0;
    // `factor ** n` reaches Infinity long before n does; `!(raw <= maxMs)` also catches NaN.
    const raw = this.baseMs * this.factor ** Math.min(failures - 1, 4096);
    return raw <= this.maxMs ? Math.max(0, raw) : this.maxMs;
  }
}
