import { DispatchFailedError } from '../errors/dispatch-failed.error';
import { DispatchTimeoutError } from '../errors/dispatch-timeout.error';
import { EventError } from '../errors/event.error';
import type { HandleTracking } from '../tracking/handle-tracking';
import type { ListenerOutcome } from '../tracking/listener-outcome';

/** What a dispatch handle resolves to. */
export interface DispatchResult {
  /** The wire `handle_id`. */
  readonly id: string;
  readonly eventName: string;
  /** Every error of this dispatch (listeners and publisher). */
  readonly errors: readonly EventError[];
  /** Every listener call that settled, local and remote; recorded on tracked dispatches only (`trackRemote`). */
  readonly outcomes: readonly ListenerOutcome[];
}

export interface WaitOptions {
  /** Reject with `DispatchTimeoutError` after this many ms. */
  timeoutMs?: number;
}

/** @internal What a handle needs from its bus. */
export interface HandleOwner {
  nextHandleId(): string;
  recordError(error: EventError): void;
  handleSettled(handle: DispatchHandle): void;
}

const NO_ERRORS: readonly EventError[] = Object.freeze([]);
const RESOLVED: Promise<void> = Promise.resolve();

/** One `then()` (or `done`) waiting for a handle to settle: a singly linked list, newest first. */
interface Waiter {
  onfulfilled: ((value: DispatchResult) => unknown) | null | undefined;
  resolve: (value: unknown) => void;
  reject: (reason: unknown) => void;
  next: Waiter | undefined;
}

/** Settles each waiter's promise, oldest first, as `promise.then(onfulfilled)` would. */
function callWaiters(newest: Waiter, result: DispatchResult): void {
  // Almost always one waiter (an `await`); several are reversed into registration order.
  let first: Waiter | undefined = newest;
  if (newest.next !== undefined) {
    first = undefined;
    for (let w: Waiter | undefined = newest; w !== undefined;) {
      const next: Waiter | undefined = w.next;
      w.next = first;
      first = w;
      w = next;
    }
  }
  for (let w = first; w !== undefined; w = w.next) {
    if (typeof w.onfulfilled !== 'function') {
      w.resolve(result);
      continue;
    }
    try {
      w.resolve(w.onfulfilled(result));
    } catch (err) {
      w.reject(err);
    }
  }
}
const NO_OUTCOMES: readonly ListenerOutcome[] = Object.freeze([]);

/**
 * One dispatch (goevent's Handle). Awaitable: `await handle` resolves once every local listener
 * settled and never rejects; `orThrow()` rejects when something failed.
 *
 * Kept small on purpose: a fire-and-forget dispatch allocates this object and nothing else.
 * Its id and its promise are made only when read.
 */
export class DispatchHandle implements PromiseLike<DispatchResult> {
  /** @internal Outstanding units of work: the sync chain, each async listener, the publish. */
  _pending = 1;
  /** @internal Counted in the bus's in-flight set. */
  _tracked = false;
  /** @internal */
  private _errors: EventError[] | null = null;
  /** @internal */
  private _id: string | undefined;
  // Assigned here, even though usually unused, so every handle has one shape (V8 hidden class):
  // awaiting one later adds no property. Settled is `_pending === 0`, not a field: 8 bytes less.
  /** @internal */
  private _done: Promise<DispatchResult> | undefined = undefined;
  /** @internal Who waits for the settle (`then()` callers, `done`), newest first. */
  private _waiters: Waiter | undefined = undefined;
  /** @internal */
  private readonly _owner: HandleOwner;
  /** @internal Set on tracked dispatches only: the outcomes of their listener calls. */
  _track: HandleTracking | undefined = undefined;
  readonly eventName: string;

  /** @internal Made by the bus: `dispatch()` returns one. */
  constructor(eventName: string, owner: HandleOwner, id?: string) {
    this.eventName = eventName;
    this._owner = owner;
    this._id = id;
  }

  /** The wire `handle_id`: 16 lowercase hex chars. */
  get id(): string {
    return (this._id ??= this._owner.nextHandleId());
  }

  /** Errors so far (goevent's GetErrors). Synchronous listener errors are here when `dispatch()` returns. */
  get errors(): readonly EventError[] {
    return this._errors === null ? NO_ERRORS : this._errors.slice();
  }

  /** Outcome of every listener call that settled so far, local and remote (tracked dispatches only; empty otherwise). */
  get outcomes(): readonly ListenerOutcome[] {
    return this._track === undefined ? NO_OUTCOMES : this._track.outcomes.slice();
  }

  get settled(): boolean {
    return this._pending === 0;
  }

  /** Settles with the dispatch (goevent's Done()); never rejects. */
  get done(): Promise<DispatchResult> {
    if (this._done === undefined) {
      this._done =
        this._pending === 0
          ? Promise.resolve(this.result())
          : new Promise<DispatchResult>((resolve) => {
              const settle = resolve as (value: unknown) => void;
              this._waiters = { onfulfilled: undefined, resolve: settle, reject: settle, next: this._waiters };
            });
    }
    return this._done;
  }

  then<R1 = DispatchResult, R2 = never>(
    onfulfilled?: ((value: DispatchResult) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    if (this._pending === 0) return this.done.then(onfulfilled, onrejected);
    // Pending (`await bus.dispatch()`): one promise, settled by the handle itself, instead of
    // `done` plus a derived one; a handle never rejects, so `onrejected` is never called.
    return new Promise<R1 | R2>((resolve, reject) => {
      this._waiters = {
        onfulfilled: onfulfilled as ((value: DispatchResult) => unknown) | null | undefined,
        resolve: resolve as (value: unknown) => void,
        reject,
        next: this._waiters,
      };
    });
  }

  /** goevent's Wait(): never rejects for listener errors; rejects with `DispatchTimeoutError` on timeout. */
  wait(options: WaitOptions = {}): Promise<DispatchResult> {
    const { timeoutMs } = options;
    if (timeoutMs === undefined || this._pending === 0) return this.done;
    return new Promise<DispatchResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new DispatchTimeoutError(timeoutMs, `dispatch of '${this.eventName}'`)), timeoutMs);
      timer.unref?.();
      void this.done.then((result) => {
        clearTimeout(timer);
        resolve(result);
      });
    });
  }

  /** Resolves like `await handle`, but rejects with `DispatchFailedError` when anything failed. */
  async orThrow(options?: WaitOptions): Promise<DispatchResult> {
    const result = await this.wait(options);
    if (result.errors.length > 0) throw new DispatchFailedError(this.eventName, result.id, result.errors);
    return result;
  }

  /** @internal Records a failure of `listener` on this handle and on the bus. */
  _fail(listener: string, cause: unknown): void {
    const error =
      // Reused only when it already is this handle's error; one from elsewhere (a rethrown error of an
      // earlier dispatch) is this listener's failure here, with this handle's id.
      cause instanceof EventError && this._id !== undefined && cause.handleId === this._id && cause.listener === listener
        ? cause
        : new EventError(this.eventName, listener, this.id, cause);
    (this._errors ??= []).push(error);
    this._owner.recordError(error);
  }

  /** @internal One unit of work finished. */
  _release(): void {
    if (--this._pending === 0) this._settle(false);
  }

  /**
   * @internal `_release()` from the bus's own promise job (an async listener's run or its
   * promise settling), where nothing but the bus is on the stack: the waiters are called now
   * rather than from one more job. Anywhere else (inside `dispatch()` or `close()`, which a
   * user called) they are called from a fresh job, as promise callbacks must be.
   */
  _releaseInJob(): void {
    if (--this._pending === 0) this._settle(true);
  }

  /** @internal Kept tiny: it is inlined into every dispatch, whose waiters (if any) are woken out of line. */
  private _settle(inJob: boolean): void {
    if (this._waiters !== undefined) this._wake(inJob);
    if (this._tracked) this._owner.handleSettled(this);
  }

  /** @internal */
  private _wake(inJob: boolean): void {
    const waiters = this._waiters!;
    this._waiters = undefined;
    if (inJob) callWaiters(waiters, this.result());
    else void RESOLVED.then(() => callWaiters(waiters, this.result()));
  }

  /** @internal */
  private result(): DispatchResult {
    return { id: this.id, eventName: this.eventName, errors: this.errors, outcomes: this.outcomes };
  }
}
