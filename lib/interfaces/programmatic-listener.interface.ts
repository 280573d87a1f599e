import type { EventKey } from '../routing/event-key';
import type { DeliveryMeta } from './event-bus-driver.interface';
import type { ListenerOptions } from './listener-options.interface';

/** A listener registered in code (goevent's RegisterListener). */
export interface ProgrammaticListener<T = unknown> {
  eventName: EventKey;
  onEvent(event: T, meta?: DeliveryMeta): unknown;
  options?: ListenerOptions;
  /** Shown as `EventError.listener`; defaults to the object's class name, `'anonymous'` for a literal. */
  name?: string;
}
