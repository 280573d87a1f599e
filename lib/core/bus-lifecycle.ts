import { AsyncLocalStorage } from 'node:async_hooks';
import type { DispatchHandle } from '../dispatch/dispatch-handle';

/** created → starting (driver connected) → ready (listeners attached) → closing → closed. */
export type BusState = 'created' | 'starting' | 'ready' | 'closing' | 'closed';

/** A dispatch that came before the bus was ready: run once listeners are attached, or failed on close. */
export interface QueuedDispatch {
  readonly handle: DispatchHandle;
  readonly type: string;
  readonly event: unknown;
  /**
   * Runs a function in the async context of the `dispatch()` call (every AsyncLocalStorage store:
   * OpenTelemetry's active span, request-scoped stores), not in the one that made the bus ready.
   */
  readonly resume: <R>(fn: () => R) => R;
}

/** The bus's state and the dispatches that wait for `ready`. */
export class BusLifecycle {
  state: BusState = 'created';
  /** The start in progress or done (start() is idempotent). */
  starting: Promise<void> | undefined;
  /** The close in progress or done (close() is idempotent). */
  closing: Promise<void> | undefined;
  private queued: QueuedDispatch[] = [];

  get closed(): boolean {
    return this.state === 'closing' || this.state === 'closed';
  }

  /** Keeps a dispatch until listeners are attached. */
  queue(handle: DispatchHandle, type: string, event: unknown): void {
    this.queued.push({ handle, type, event, resume: AsyncLocalStorage.snapshot() });
  }

  /** The dispatches queued so far, oldest first; the queue is empty after. */
  takeQueued(): QueuedDispatch[] {
    const queued = this.queued;
    this.queued = [];
    return queued;
  }
}
