import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { ResolvedEventBusOptions } from '../options/resolved-options.interface';
import { MemoryDriver } from './memory.driver';

/**
 * Builds the driver the options name. Redis drivers are loaded on demand so that `ioredis`
 * is only needed by apps that use them.
 */
export async function createDriver(options: ResolvedEventBusOptions): Promise<EventBusDriver> {
  const { driver } = options;
  if (typeof driver !== 'string') return driver;
  switch (driver) {
    case 'memory':
      return new MemoryDriver();
    case 'redis': {
      await requireIoredis(driver);
      const { RedisDriver } = await import('./redis-pubsub/redis.driver');
      return new RedisDriver(options.redis);
    }
    case 'redis-streams': {
      await requireIoredis(driver);
      const { RedisStreamsDriver } = await import('./redis-streams/redis-streams.driver');
      return new RedisStreamsDriver(options);
    }
    default:
      throw new Error(`driver '${driver}' is not available in this build`);
  }
}

/** Fails start-up with `npm install ioredis` when the optional peer is missing (loaded only here, on demand). */
async function requireIoredis(driver: string): Promise<void> {
  const { loadIoredis } = await import('./redis/shared/ioredis-loader');
  await loadIoredis(driver);
}
