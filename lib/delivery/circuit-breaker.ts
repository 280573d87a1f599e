import { BreakerOpenError } from '../errors/breaker-open.error';
import type { BreakerOptions } from '../interfaces/listener-options.interface';
import type { ListenerCall } from '../routing/listener-entry';
import { isThenable } from './thenable';
import type { TimerScope } from './timer-scope';

export interface BreakerObserver {
  /** The breaker opened (after `threshold` consecutive failures, or a failed trial). */
  opened(): void;
  /** An event was failed with `BreakerOpenError` (`whenOpen: 'fail'`). */
  rejected(): void;
  /** An event held for the breaker was failed because the listener closed. */
  abandoned(): void;
}

interface Held {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * docker/go-events' Breaker, per listener and counting per attempt (so a retried event's failures
 * count one by one). After `threshold` consecutive failures it opens: the listener is not called
 * until `cooldownMs` has passed; then one trial call is let through — its success closes the
 * breaker, its failure opens it for another cool-down. An event that finds it open is, by
 * `whenOpen`, failed at once with `BreakerOpenError` (`'fail'`, the default) or held until the
 * breaker lets it through (`'hold'`); never silently dropped (go-events' breaker dropped them).
 */
export class CircuitBreaker {
  readonly threshold: number;
  readonly cooldownMs: number;
  readonly whenOpen: 'fail' | 'hold';
  private failures = 0;
  private openUntil = 0;
  private trialRunning = false;
  /** Events held until the running trial call settles. */
  private held: Held[] = [];

  constructor(
    options: BreakerOptions,
    private readonly timers: TimerScope,
    private readonly observer: BreakerObserver,
    private readonly closedError: () => Error,
    private readonly now: () => number = () => Date.now(),
  ) {
    this.threshold = options.threshold;
    this.cooldownMs = options.cooldownMs;
    this.whenOpen = options.whenOpen ?? 'fail';
  }

  /** `'closed'`, `'open'` (cooling down), or `'half-open'` (a trial may run or is running). */
  get state(): 'closed' | 'open' | 'half-open' {
    if (this.failures < this.threshold) return 'closed';
    return this.trialRunning || this.now() >= this.openUntil ? 'half-open' : 'open';
  }

  get consecutiveFailures(): number {
    return this.failures;
  }

  wrap(inner: ListenerCall): ListenerCall {
    const guarded = (event: unknown, meta: Parameters<ListenerCall>[1]): unknown => {
      if (this.failures < this.threshold) return this.run(inner, event, meta, false);
      if (!this.trialRunning && this.now() >= this.openUntil) {
        this.trialRunning = true;
        return this.run(inner, event, meta, true);
      }
      if (this.whenOpen === 'fail') {
        this.observer.rejected();
        throw new BreakerOpenError(this.failures, this.trialRunning ? this.now() : this.openUntil);
      }
      // Hold: wait for the cool-down to end or the trial to settle, then look again.
      return this.hold().then(() => guarded(event, meta));
    };
    return guarded;
  }

  /** Fails every held event with the close error (timers are cleared by their scope). */
  close(): void {
    const held = this.held;
    this.held = [];
    for (const waiter of held) {
      this.observer.abandoned();
      waiter.reject(this.closedError());
    }
  }

  private hold(): Promise<void> {
    if (this.trialRunning) {
      if (this.timers.isClosed) return this.timers.sleep(0);
      return new Promise<void>((resolve, reject) => this.held.push({ resolve, reject }));
    }
    return this.timers.sleep(this.openUntil - this.now());
  }

  private run(inner: ListenerCall, event: unknown, meta: Parameters<ListenerCall>[1], trial: boolean): unknown {
    let result: unknown;
    try {
      result = inner(event, meta);
    } catch (err) {
      this.failure(trial);
      throw err;
    }
    if (!isThenable(result)) {
      this.success(trial);
      return result;
    }
    return Promise.resolve(result).then(
      (value) => {
        this.success(trial);
        return value;
      },
      (err: unknown) => {
        this.failure(trial);
        throw err;
      },
    );
  }

  private success(trial: boolean): void {
    this.failures = 0;
    this.openUntil = 0;
    if (trial) this.endTrial();
  }

  private failure(trial: boolean): void {
    if (this.failures < Number.MAX_SAFE_INTEGER) this.failures++;
    if (trial || this.failures === this.threshold) {
      this.openUntil = this.now() + this.cooldownMs;
      this.observer.opened();
    }
    if (trial) this.endTrial();
  }

  private endTrial(): void {
    this.trialRunning = false;
    const held = this.held;
    this.held = [];
    for (const waiter of held) waiter.resolve();
  }
}
