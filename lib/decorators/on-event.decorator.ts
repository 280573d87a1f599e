import { EVENT_LISTENER_METADATA } from '../event-bus.constants';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import type { EventKey } from '../routing/event-key';

/** What one `@OnEvent` records; a method may carry several. */
export interface OnEventMetadata {
  readonly event: EventKey;
  readonly options: ListenerOptions;
}

/**
 * Marks a provider or controller method as a listener. Sync by default (runs inline in
 * `dispatch()`, in registration order); `{ async: true }` runs on a later tick, concurrently.
 * Decorators stack.
 */
export function OnEvent(event: EventKey, options: ListenerOptions = {}): MethodDecorator {
  return (_target, _key, descriptor) => {
    const method = descriptor.value as object;
    const existing = (Reflect.getOwnMetadata(EVENT_LISTENER_METADATA, method) as OnEventMetadata[] | undefined) ?? [];
    Reflect.defineMetadata(EVENT_LISTENER_METADATA, [...existing, { event, options }], method);
    return descriptor;
  };
}
