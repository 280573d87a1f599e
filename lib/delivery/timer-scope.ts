/** Longest delay `setTimeout` honours; a longer one fires at once (Node warns and uses 1 ms). */
export const MAX_TIMER_MS = 2_147_483_647;

interface PendingTimer {
  timer: ReturnType<typeof setTimeout> | undefined;
  abort(error: Error): void;
}

/**
 * The timers of one listener's policies (backoff waits, breaker cool-downs, timeouts).
 * Every timer is unref'd, so none keeps the process alive, and closing the scope clears them all
 * and fails what was waiting on them: nothing waits forever after shutdown.
 */
export class TimerScope {
  private readonly pending = new Set<PendingTimer>();
  private closed = false;

  constructor(
    /** The error a wait fails with when the scope closes under it. */
    private readonly closedError: () => Error,
    /** Called once for each wait failed by `close()` (counted as an event lost to shutdown). */
    private readonly onAbandon: () => void,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Calls `fire` after `ms`; if the scope closes first, `abort` gets the close error instead.
   * Returns a function that cancels the timer without calling either.
   */
  schedule(ms: number, fire: () => void, abort: (error: Error) => void): () => void {
    if (this.closed) {
      this.onAbandon();
      abort(this.closedError());
      return noop;
    }
    const entry: PendingTimer = { timer: undefined, abort };
    entry.timer = setTimeout(
      () => {
        this.pending.delete(entry);
        fire();
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
    entry.timer.unref?.();
    this.pending.add(entry);
    return () => {
      clearTimeout(entry.timer);
      this.pending.delete(entry);
    };
  }

  /** Resolves after `ms`; rejects with the close error if the scope closes first. */
  sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve, reject) => void this.schedule(ms, resolve, reject));
  }

  /** Clears every timer and fails every wait. Idempotent. */
  close(): void {
    this.closed = true;
    const pending = [...this.pending];
    this.pending.clear();
    for (const entry of pending) {
      clearTimeout(entry.timer);
      this.onAbandon();
      entry.abort(this.closedError());
    }
  }
}

function noop(): void {}
