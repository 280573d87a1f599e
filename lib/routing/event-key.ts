import { getDomainEventMetadata } from '../decorators/domain-event.decorator';
import type { EventClass } from '../interfaces/event-class.interface';
import { assertEventKey } from './event-pattern';

/** What a listener names: an event name (`'user.registered'`, `'user.*'`, `'user.**'`), a `@DomainEvent` class, or a list of them. */
export type EventKey = string | EventClass | ReadonlyArray<string | EventClass>;

/** @internal The event name (or pattern) one name or class stands for; `where` prefixes errors. */
export function keyOf(target: string | EventClass, where: string): string {
  if (typeof target === 'function') {
    const meta = getDomainEventMetadata(target);
    if (meta === undefined) {
      throw new TypeError(`${where}: class ${target.name} is not a @DomainEvent class; decorate it or pass an event name`);
    }
    return meta.name;
  }
  assertEventKey(target, where);
  return target;
}

/** @internal The event names (or patterns) a listener target names; `where` prefixes errors. */
export function eventKeys(target: EventKey, where: string): string[] {
  const list = Array.isArray(target) ? target : [target as string | EventClass];
  if (list.length === 0) throw new TypeError(`${where}: an empty list names no event`);
  return list.map((t) => keyOf(t, where));
}
