import { PUBLISHER } from '../errors/event.error';
import type { PublishTracker } from '../interfaces/event-bus-driver.interface';
import type { DispatchHandle } from './dispatch-handle';

/** Settles a handle's publish unit when the driver reports the outcome (`publishTracked`). */
export class PublishOutcome implements PublishTracker {
  private reported = false;

  constructor(private readonly handle: DispatchHandle) {}

  published(error?: unknown): void {
    // Once only: a driver that reports twice must not drive the handle's count negative.
    if (this.reported) return;
    this.reported = true;
    if (error !== undefined) this.handle._fail(PUBLISHER, error);
    this.handle._release();
  }
}
