import { DuplicateEventTypeError } from '../errors/duplicate-event-type.error';
import type { EventClass } from '../interfaces/event-class.interface';

/**
 * The process registry of event classes by type key (goevent's RegisterEventType: a Go service
 * registers the Go type it decodes an event's data into).
 * This is the package's one piece of module-level state, on purpose: `@DomainEvent` runs when a class
 * is declared, before any Nest application exists. Every bus in the process reads it; it holds only
 * classes, never events or listeners.
 */
const classesByType = new Map<string, RegisteredEventType>();
/** The classes registered for each event name: a receiver falls back to the only one when the type is not known. */
const classesByName = new Map<string, Set<EventClass>>();

export interface RegisteredEventType {
  readonly cls: EventClass;
  /** The event name the class is dispatched under. */
  readonly name: string;
}

export function registerEventType(type: string, cls: EventClass, name: string = type): void {
  if (typeof type !== 'string' || type.length === 0) {
    throw new TypeError(`event type key must be a non-empty string (got ${String(type)}) for class ${cls?.name}`);
  }
  const existing = classesByType.get(type);
  if (existing !== undefined && existing.cls !== cls) {
    throw new DuplicateEventTypeError(type, existing.cls.name, cls.name);
  }
  classesByType.set(type, { cls, name });
  let named = classesByName.get(name);
  if (named === undefined) classesByName.set(name, (named = new Set()));
  named.add(cls);
}

export function resolveEventType(type: string): EventClass | undefined {
  return classesByType.get(type)?.cls;
}

/** The class and event name registered under `type`. */
export function lookupEventType(type: string): RegisteredEventType | undefined {
  return classesByType.get(type);
}

/** The class registered for `name` when there is exactly one, else undefined. */
export function soleClassForName(name: string): EventClass | undefined {
  const named = classesByName.get(name);
  if (named === undefined || named.size !== 1) return undefined;
  return named.values().next().value;
}
