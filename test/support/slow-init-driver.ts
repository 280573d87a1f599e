import type { DeliverFn, DriverContext, EventBusDriver, OutgoingEvent } from 'nestjs-event-bus';
import { deferred } from './boot-app';

/** A broadcast driver whose init() waits until the test lets it go, and which counts its closes. */
export class SlowInitDriver implements EventBusDriver {
  readonly delivery = 'broadcast' as const;
  readonly initGate = deferred();
  readonly published: OutgoingEvent[] = [];
  subscribed: string[] = [];
  closes = 0;
  publishResult: (() => unknown) | undefined;

  async init(_context: DriverContext): Promise<void> {
    await this.initGate.promise;
  }
  publish(event: OutgoingEvent): Promise<void> | void {
    this.published.push(event);
    // A foreign thenable where the contract says a promise: what a badly written driver may return.
    return this.publishResult?.() as Promise<void> | undefined;
  }
  subscribe(key: string, _deliver: DeliverFn): void {
    this.subscribed.push(key);
  }
  unsubscribe(): void {}
  async close(): Promise<void> {
    this.closes++;
  }
}
