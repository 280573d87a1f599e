import { QueueFullError } from '../errors/queue-full.error';
import type { DeliveryMeta } from '../interfaces/event-bus-driver.interface';
import type { ListenerCall } from '../routing/listener-entry';
import { isThenable } from './thenable';

/**
 * Events a listener with `concurrency` keeps waiting when it sets no `maxQueue`. A listener slower than
 * its publisher would otherwise grow its queue until the process runs out of memory; past this bound
 * each new event fails with `QueueFullError` on its handle instead. `maxQueue: Infinity` opts out.
 */
export const DEFAULT_MAX_QUEUE = 10_000;

export interface BoundedQueueOptions {
  /** Calls running at once. */
  readonly concurrency: number;
  /** Events waiting for a slot; `Infinity` for no bound. */
  readonly maxQueue: number;
  readonly overflow: 'reject' | 'drop-oldest';
}

export interface QueueObserver {
  /** An event was failed with `QueueFullError` (the new one, or the oldest waiting one). */
  overflowed(): void;
  /** A waiting event was failed because the listener closed. */
  abandoned(): void;
}

interface Waiting {
  readonly event: unknown;
  readonly meta: DeliveryMeta | undefined;
  readonly eventName: string | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * docker/go-events' Queue, bounded and closable: at most `concurrency` calls of the listener run at
 * once (a call holds its slot until it settles, retries and breaker waits included); further events
 * wait in FIFO order, at most `maxQueue` of them. On overflow, `'reject'` fails the new event and
 * `'drop-oldest'` fails the oldest waiting one, each on its own handle with `QueueFullError`.
 * `close()` fails what waits with the close error at once and never waits for running calls
 * (go-events' Queue.Close could hang).
 */
export class BoundedQueue {
  private running = 0;
  private items: Array<Waiting | undefined> = [];
  private head = 0;
  private pumping = false;
  private closed = false;

  constructor(
    private readonly inner: ListenerCall,
    private readonly options: BoundedQueueOptions,
    private readonly observer: QueueObserver,
    private readonly closedError: () => Error,
  ) {}

  /** Events waiting for a slot. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Calls running now. */
  get active(): number {
    return this.running;
  }

  readonly call: ListenerCall = (event, meta, eventName) => {
    if (this.closed) throw this.closedError();
    if (this.running < this.options.concurrency && this.size === 0) return this.start(event, meta, eventName);
    if (this.size >= this.options.maxQueue) {
      if (this.options.overflow === 'reject' || this.size === 0) {
        this.observer.overflowed();
        throw new QueueFullError(this.options.maxQueue, 'reject');
      }
      const oldest = this.shift()!;
      this.observer.overflowed();
      oldest.reject(new QueueFullError(this.options.maxQueue, 'drop-oldest'));
    }
    const queued = new Promise<unknown>((resolve, reject) => {
      this.items.push({ event, meta, eventName, resolve, reject });
    });
    // A slot may be free while others wait (a re-entrant call during pumping): let the pump take it.
    if (this.running < this.options.concurrency) this.pump();
    return queued;
  };

  /** Fails every waiting event; running calls are left to finish on their own. Idempotent. */
  close(): void {
    this.closed = true;
    while (this.size > 0) {
      const waiting = this.shift()!;
      this.observer.abandoned();
      waiting.reject(this.closedError());
    }
    this.items = [];
    this.head = 0;
  }

  private start(event: unknown, meta: DeliveryMeta | undefined, eventName: string | undefined): unknown {
    this.running++;
    let result: unknown;
    try {
      result = this.inner(event, meta, eventName);
    } catch (err) {
      this.release();
      throw err;
    }
    if (!isThenable(result)) {
      this.release();
      return result;
    }
    return Promise.resolve(result).finally(() => this.release());
  }

  private release(): void {
    this.running--;
    this.pump();
  }

  /** Starts waiting events while slots are free; a loop, not recursion, for synchronous listeners. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closed && this.running < this.options.concurrency && this.size > 0) {
        const next = this.shift()!;
        let result: unknown;
        try {
          result = this.start(next.event, next.meta, next.eventName);
        } catch (err) {
          next.reject(err);
          continue;
        }
        if (isThenable(result)) result.then(next.resolve, next.reject);
        else next.resolve(result);
      }
    } finally {
      this.pumping = false;
    }
  }

  private shift(): Waiting | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Compact now and then so a long-lived queue does not keep a growing array.
    if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
