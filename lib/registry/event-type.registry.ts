import { DuplicateEventTypeError } from '../errors/duplicate-event-type.error';
import type { EventClass } from '../interfaces/event-class.interface';

/**
 * The process registry of event classes by type key (goevent's RegisterEventType).
 * This is the package's one piece of module-level state, on purpose: `@DomainEvent` runs when a class
 * is declared, before any Nest application exists. Every bus in the process reads it; it holds only
 * classes, never events or listeners.
 */
const classesByType = new Map<string, EventClass>();

export function registerEventType(type: string, cls: EventClass): void {
  if (typeof type !== 'string' || type.length === 0) {
    throw new TypeError(`event type key must be a non-empty string (got ${String(type)}) for class ${cls?.name}`);
  }
  const existing = classesByType.get(type);
  if (existing !== undefined && existing !== cls) {
    throw new DuplicateEventTypeError(type, existing.name, cls.name);
  }
  classesByType.set(type, cls);
}

export function resolveEventType(type: string): EventClass | undefined {
  return classesByType.get(type);
}
