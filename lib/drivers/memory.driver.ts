import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';

/**
 * In-process driver, the default. Nothing leaves the process: the bus runs every listener itself,
 * so publishing and subscribing have nothing to do.
 */
export class MemoryDriver implements EventBusDriver {
  readonly delivery = 'local' as const;
  readonly maxEventSize = Number.POSITIVE_INFINITY;

  publish(): void {}
  subscribe(): void {}
  unsubscribe(): void {}
  async close(): Promise<void> {}
}
