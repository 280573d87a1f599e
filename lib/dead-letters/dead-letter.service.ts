import { Injectable } from '@nestjs/common';
import { EventBus } from '../event-bus';
import { RedisStreamsDriver } from '../drivers/redis-streams/redis-streams.driver';
import type { DeadLetter, ListDeadLettersOptions } from './dead-letter.interface';

/**
 * Dead letters of the `redis-streams` driver: entries a listener failed `maxAttempts` times, and
 * entries that could not be read at all (malformed, over the size limit). One dead-letter stream
 * per event name: `channelPrefix + eventName + ':dlq'`.
 */
@Injectable()
export class DeadLetterService {
  constructor(private readonly bus: EventBus) {}

  /** Oldest first; `count` defaults to 100, `after` pages on from a dead-letter id. */
  async list(eventName: string, options: ListDeadLettersOptions = {}): Promise<DeadLetter[]> {
    return this.driver('list').listDeadLetters(eventName, options);
  }

  async count(eventName: string): Promise<number> {
    return this.driver('count').countDeadLetters(eventName);
  }

  /**
   * Delivers the event again to the listener that failed it, and only to it (in this process,
   * through its delivery policies, with the original `id`), then deletes the dead letter. Rejects
   * and keeps the dead letter when the listener fails again or is not registered in this app.
   */
  async replay(eventName: string, id: string): Promise<void> {
    return this.driver('replay').replayDeadLetter(eventName, id);
  }

  /** Resolves to false when there was no such dead letter. */
  async delete(eventName: string, id: string): Promise<boolean> {
    return this.driver('delete').deleteDeadLetter(eventName, id);
  }

  private driver(method: string): RedisStreamsDriver {
    const driver = this.bus.getDriver();
    if (driver instanceof RedisStreamsDriver) return driver;
    const what =
      driver === undefined
        ? 'the event bus is not started yet (call it after app.init())'
        : `the driver in use is '${describeDriver(driver)}'`;
    throw new Error(`DeadLetterService.${method}() needs driver 'redis-streams': ${what}. Dead letters exist only on Redis Streams.`);
  }
}

function describeDriver(driver: object): string {
  const name = driver.constructor?.name ?? 'custom';
  return ({ MemoryDriver: 'memory', RedisDriver: 'redis' } as Record<string, string>)[name] ?? name;
}
