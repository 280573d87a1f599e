/**
 * Attribute names of OpenTelemetry's messaging conventions, and the bus's own (`event_bus.*`) for
 * what the conventions have no name for. Metric attributes stay bounded: event names, listener
 * names and groups only, never payload values or ids.
 */
export const ATTR_SYSTEM = 'messaging.system';
export const ATTR_DESTINATION = 'messaging.destination.name';
export const ATTR_OPERATION_NAME = 'messaging.operation.name';
export const ATTR_OPERATION_TYPE = 'messaging.operation.type';
export const ATTR_CONSUMER_GROUP = 'messaging.consumer.group.name';
export const ATTR_MESSAGE_ID = 'messaging.message.id';
export const ATTR_ERROR_TYPE = 'error.type';
/** `Class.method` or the programmatic listener's name. */
export const ATTR_LISTENER = 'event_bus.listener';
/** 1 on first delivery of a redis-streams entry, then 2, 3… */
export const ATTR_ATTEMPT = 'event_bus.delivery.attempt';
/** The dispatch's handle id (spans only: on redis-streams `messaging.message.id` is the entry id). */
export const ATTR_HANDLE_ID = 'event_bus.handle_id';

/** `messaging.system` of a driver: `redis` for both Redis drivers, else the driver's name. */
export function messagingSystem(driver: string): string {
  return driver === 'redis' || driver === 'redis-streams' ? 'redis' : driver;
}

/** `error.type`: the error's class name (bounded: classes, not messages). */
export function errorType(error: unknown): string {
  if (error instanceof Error) return error.name || error.constructor?.name || 'Error';
  return '_OTHER';
}
