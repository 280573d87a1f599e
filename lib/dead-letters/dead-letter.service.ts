import { Injectable } from '@nestjs/common';
import { EventBus } from '../event-bus';
import type { DeadLetter, ListDeadLettersOptions } from './dead-letter.interface';
import { hasDeadLetterStore, type DeadLetterStore } from './dead-letter-store.interface';

/**
 * Dead letters of the driver in use, when it keeps them (`redis-streams`, or a custom driver with a
 * `deadLetters` store): entries a listener failed `maxAttempts` times, and entries that could not
 * be read at all (malformed, over the size limit). On redis-streams, one dead-letter stream per
 * event name: `channelPrefix + eventName + ':dlq'`.
 */
@Injectable()
export class DeadLetterService {
  constructor(private readonly bus: EventBus) {}

  /** Oldest first; `count` defaults to 100, `after` pages on from a dead-letter id. */
  async list(eventName: string, options: ListDeadLettersOptions = {}): Promise<DeadLetter[]> {
    return this.store('list').list(eventName, options);
  }

  async count(eventName: string): Promise<number> {
    return this.store('count').count(eventName);
  }

  /**
   * Delivers the event again to the listener that failed it, and only to it (in this process,
   * through its delivery policies, with the original `id`), then deletes the dead letter. Rejects
   * and keeps the dead letter when the listener fails again or is not registered in this app.
   */
  async replay(eventName: string, id: string): Promise<void> {
    return this.store('replay').replay(eventName, id);
  }

  /** Resolves to false when there was no such dead letter. */
  async delete(eventName: string, id: string): Promise<boolean> {
    return this.store('delete').delete(eventName, id);
  }

  private store(method: string): DeadLetterStore {
    const driver = this.bus.getDriver();
    if (hasDeadLetterStore(driver)) return driver.deadLetters;
    const what =
      driver === undefined
        ? 'the event bus is not started yet (call it after app.init())'
        : `the driver in use is '${describeDriver(driver)}'`;
    throw new Error(
      `DeadLetterService.${method}() needs driver 'redis-streams': ${what}. Dead letters exist only on Redis Streams ` +
        "(or on a custom driver that offers them: set its 'deadLetters' to a DeadLetterStore).",
    );
  }
}

function describeDriver(driver: object): string {
  const name = driver.constructor?.name ?? 'custom';
  return ({ MemoryDriver: 'memory', RedisDriver: 'redis' } as Record<string, string>)[name] ?? name;
}
