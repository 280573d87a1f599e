import { DOMAIN_EVENT_METADATA } from '../event-bus.constants';
import type { DomainEventMetadata, EventClass } from '../interfaces/event-class.interface';
import { registerEventType } from '../registry/event-type.registry';

export interface DomainEventOptions {
  /** Registry key sent as `event_type`; defaults to the event name. Use it to version a payload. */
  type?: string;
}

/**
 * Marks a class as an event named `name` and registers it in the process registry under its type key.
 */
export function DomainEvent(name: string, options: DomainEventOptions = {}): ClassDecorator {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError("@DomainEvent(name) needs a non-empty event name, e.g. @DomainEvent('user.registered')");
  }
  return (target) => {
    const metadata: DomainEventMetadata = { name, type: options.type ?? name };
    registerEventType(metadata.type, target as unknown as EventClass, name);
    Reflect.defineMetadata(DOMAIN_EVENT_METADATA, metadata, target);
  };
}

export function getDomainEventMetadata(target: object): DomainEventMetadata | undefined {
  return Reflect.getOwnMetadata(DOMAIN_EVENT_METADATA, target) as DomainEventMetadata | undefined;
}
