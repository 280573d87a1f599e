import { DispatchTimeoutError } from '../errors/dispatch-timeout.error';

/**
 * Counts the dispatches (and durable deliveries) still running, for `bus.wait()` and for the drain
 * on close.
 */
export class InflightTracker {
  count = 0;
  private idleWaiters: Array<() => void> = [];

  begin(): void {
    this.count++;
  }

  end(): void {
    if (--this.count === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Resolves once nothing is in flight; rejects with `DispatchTimeoutError` after `timeoutMs`. */
  wait(timeoutMs: number | undefined): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    if (timeoutMs === undefined) return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    return new Promise<void>((resolve, reject) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        // Forget the waiter: a bus that stays busy would otherwise keep one per timed-out call.
        this.forget(waiter);
        reject(new DispatchTimeoutError(timeoutMs, 'bus.wait()'));
      }, timeoutMs);
      timer.unref?.();
      this.idleWaiters.push(waiter);
    });
  }

  /**
   * Resolves true once nothing is in flight, false after `timeoutMs`. Its timer is not unref'd:
   * with only a hanging listener left, the process must still reach the end of close() (and the
   * shutdown hooks after it) instead of exiting half-way; the bound keeps that short.
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.forget(waiter);
        resolve(false);
      }, timeoutMs);
      this.idleWaiters.push(waiter);
    });
  }

  /** Waiters still registered (a test checks that timed-out waits leave none). */
  get waiting(): number {
    return this.idleWaiters.length;
  }

  private forget(waiter: () => void): void {
    const at = this.idleWaiters.indexOf(waiter);
    if (at >= 0) this.idleWaiters.splice(at, 1);
  }
}
