import { Injectable } from '@nestjs/common';
import { getDomainEventMetadata } from '../decorators/domain-event.decorator';
import { DOMAIN_EVENT_METADATA } from '../event-bus.constants';
import type { EventClass } from '../interfaces/event-class.interface';
import { registerEventType, resolveEventType } from './event-type.registry';

/** Injectable view of the process event registry. */
@Injectable()
export class EventRegistry {
  /**
   * Registers `cls` under `type` (default: its `@DomainEvent` type, else its class name).
   * Throws `DuplicateEventTypeError` when another class holds the key.
   */
  register(cls: EventClass, type?: string): void {
    const metadata = getDomainEventMetadata(cls);
    const key = type ?? metadata?.type ?? cls.name;
    registerEventType(key, cls, metadata?.name ?? key);
    if (metadata === undefined) {
      // A class registered by hand routes under its type key when dispatched as an instance.
      Reflect.defineMetadata(DOMAIN_EVENT_METADATA, { name: key, type: key }, cls);
    }
  }

  isRegistered(type: string): boolean {
    return resolveEventType(type) !== undefined;
  }

  resolve(type: string): EventClass | undefined {
    return resolveEventType(type);
  }
}
