/**
 * Exponential backoff between retries (docker/go-events' ExponentialBackoff, bounded): the n-th
 * consecutive failure of the listener waits `baseMs * factor^(n-1)`, at most `maxMs`; its first
 * success resets it.
 */
export interface BackoffOptions {
  /** First delay in ms (>= 0). Default 100. */
  baseMs?: number;
  /** Growth per failure (>= 1). Default 2. */
  factor?: number;
  /** Upper bound in ms (>= baseMs). Default 10 000. */
  maxMs?: number;
  /** Randomise each delay in [0, delay] ("full jitter"). Default false. */
  jitter?: boolean;
}

export interface RetryOptions {
  /**
   * Calls in all, the first included (1 = no retry). On redis-streams these are deliveries (the
   * driver redelivers, then dead-letters), overriding `streams.maxAttempts` for this listener.
   */
  attempts: number;
  backoff?: BackoffOptions;
}

export interface BreakerOptions {
  /** Consecutive failed calls (attempts) that open the breaker. */
  threshold: number;
  /** How long it stays open before one trial call is let through; that call's success closes it. */
  cooldownMs: number;
  /**
   * What happens to an event arriving while the breaker is open:
   * `'fail'` (default) fails it with `BreakerOpenError`; `'hold'` waits for the cooldown and tries it then.
   */
  whenOpen?: 'fail' | 'hold';
}

/** Options of one listener: how it runs and its delivery policies. */
export interface ListenerOptions {
  /** Start on a later tick, concurrently, never delaying `dispatch()` (default false: sync). */
  async?: boolean;
  /** Retry failed (thrown, rejected, timed-out) calls. Default: no retry. */
  retry?: RetryOptions;
  /** Stop calling a listener that keeps failing. Default: none. */
  breaker?: BreakerOptions;
  /** Calls of this listener running at once (an integer >= 1). Default: no limit. */
  concurrency?: number;
  /**
   * Events waiting for a free slot when `concurrency` is reached (needs `concurrency`). Default 10 000;
   * `Infinity` for no bound (a listener slower than its publisher then grows memory without limit).
   */
  maxQueue?: number;
  /**
   * What a full queue does (needs `concurrency`): `'reject'` (default) fails the new event, `'drop-oldest'`
   * fails the oldest waiting one; either way with `QueueFullError` on that event's handle.
   */
  overflow?: 'reject' | 'drop-oldest';
  /** A call not settled by then fails with `ListenerTimeoutError` (per attempt). Default: none. */
  timeoutMs?: number;
  /** Events it returns false for never reach the listener (and are not errors). */
  // Method syntax: its parameter is checked bivariantly, so a filter typed for the listener's own event fits.
  filter?(event: unknown): boolean;
}
