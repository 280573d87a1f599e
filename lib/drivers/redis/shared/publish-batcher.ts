import type { OutgoingEvent } from '../../../interfaces/event-envelope.interface';
import type { PublishTracker } from '../../../interfaces/event-bus-driver.interface';
import { MAX_PUBLISH_BATCH } from '../redis.defaults';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * Collects a driver's publishes of one tick and hands them over as one batch (one pipeline, no
 * round trip per event): at the end of the tick, or at once when `MAX_PUBLISH_BATCH` wait, so a
 * long dispatch loop goes out while it runs. Nothing is handed over while `writable()` is false
 * unless `flushWhileDown` says the driver wants the batch anyway (it then waits for the
 * connection itself); otherwise the driver calls `flush()` when the connection is back.
 */
export class PublishBatcher<T> {
  private queued: T[] = [];
  private scheduled = false;

  constructor(
    private readonly write: (batch: T[]) => void,
    private readonly writable: () => boolean,
    private readonly flushWhileDown: boolean,
  ) {}

  get size(): number {
    return this.queued.length;
  }

  add(item: T): void {
    // `writable()` only when it decides something: this runs once per dispatched event.
    if (this.queued.push(item) >= MAX_PUBLISH_BATCH && this.writable()) {
      this.flush();
      return;
    }
    if (!this.scheduled && (this.flushWhileDown || this.writable())) {
      this.scheduled = true;
      // A promise job, not queueMicrotask(): Node wraps that one in an AsyncResource per call, which
      // one-at-a-time dispatches pay per event. `onTick` only hands the batch over.
      void RESOLVED.then(this.onTick);
    }
  }

  /** Hands over everything queued (nothing when empty). */
  flush(): void {
    this.scheduled = false;
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    this.write(batch);
  }

  /** Keeps only the queued items `keep` accepts (those not settled meanwhile). */
  retain(keep: (item: T) => boolean): void {
    if (this.queued.length > 0) this.queued = this.queued.filter(keep);
  }

  /** Drops everything queued (the driver settles it itself). */
  clear(): void {
    this.queued = [];
  }

  private readonly onTick = (): void => {
    this.scheduled = false;
    if (this.writable() || this.flushWhileDown) this.flush();
  };
}

/**
 * `publish()` on top of `publishTracked()`: one promise per event for callers that want one (the
 * bus itself uses `publishTracked`).
 */
export function publishAsPromise(
  driver: { publishTracked(event: OutgoingEvent, tracker: PublishTracker): void },
  event: OutgoingEvent,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    driver.publishTracked(event, { published: (error?: unknown) => (error === undefined ? resolve() : reject(error)) });
  });
}
