/** Exponential backoff between retries (docker/go-events' ExponentialBackoff). */
export interface BackoffOptions {
  /** First delay in ms. Default 100. */
  baseMs?: number;
  /** Growth per failure. Default 2. */
  factor?: number;
  /** Upper bound in ms. Default 10 000. */
  maxMs?: number;
  /** Randomise each delay in [0, delay] ("full jitter"). Default false. */
  jitter?: boolean;
}

export interface RetryOptions {
  /** Calls in all, the first included (1 = no retry). */
  attempts: number;
  backoff?: BackoffOptions;
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  threshold: number;
  /** How long it stays open before one trial call is let through. */
  cooldownMs: number;
  /**
   * What happens to an event arriving while the breaker is open:
   * `'fail'` (default) fails it with `BreakerOpenError`; `'hold'` waits for the cooldown and tries it then.
   */
  whenOpen?: 'fail' | 'hold';
}

/** Options of one listener: how it runs and its delivery policies (§4, §9). */
export interface ListenerOptions {
  /** Start on a later tick, concurrently, never delaying `dispatch()` (default false: sync). */
  async?: boolean;
  retry?: RetryOptions;
  breaker?: BreakerOptions;
  /** Calls of this listener running at once. */
  concurrency?: number;
  /** Events waiting for a free slot when `concurrency` is reached. */
  maxQueue?: number;
  /** What a full queue does: `'reject'` fails the new event, `'drop-oldest'` fails the oldest queued. */
  overflow?: 'reject' | 'drop-oldest';
  /** A call not settled by then fails with `ListenerTimeoutError`. */
  timeoutMs?: number;
  /** Events it returns false for never reach the listener (and are not errors). */
  filter?: (event: any) => boolean; // eslint-disable-line @typescript-eslint/no-explicit-any -- the listener's own event type
}
