import { InvalidOptionsError } from 'nestjs-event-bus';
import type { EventBusModuleOptions } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { resolveEventBusOptions } from '../../lib/options/event-bus-options.validator';

/** A redis block must name its server: ioredis would otherwise connect to 127.0.0.1:6379 without a word. */
describe('a redis block with no target is refused', () => {
  const refusal = (options: EventBusModuleOptions): InvalidOptionsError => {
    try {
      resolveEventBusOptions(options);
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidOptionsError);
      return err as InvalidOptionsError;
    }
    throw new Error(`accepted ${JSON.stringify(options)}`);
  };

  for (const driver of ['redis', 'redis-streams'] as const) {
    it(`${driver}: url from an unset environment variable (undefined), naming redis.url and what to give`, () => {
      const error = refusal({ driver, redis: { url: process.env.NEB_TEST_SURELY_UNSET_URL } });
      expect(error.option).toBe('redis.url');
      expect(error.message).toBe(
        "EventBusModule option 'redis.url' is undefined (an unset environment variable such as REDIS_URL?) and nothing else " +
          "names a Redis server: give redis.url ('redis://host:6379' or 'rediss://' for TLS), redis.host (and redis.port), " +
          'redis.client, redis.cluster or redis.sentinels; there is no default of 127.0.0.1:6379',
      );
    });

    it(`${driver}: an empty url (a variable set to nothing), even next to other options`, () => {
      const error = refusal({ driver, redis: { url: '', channelPrefix: 'svc:' } });
      expect(error.option).toBe('redis.url');
      expect(error.message).toBe(
        "EventBusModule option 'redis.url' is '' (an unset environment variable such as REDIS_URL?): give redis.url " +
          "('redis://host:6379' or 'rediss://' for TLS), redis.host (and redis.port), redis.client, redis.cluster or " +
          'redis.sentinels; there is no default of 127.0.0.1:6379',
      );
    });

    it(`${driver}: an empty host with nothing else`, () => {
      const error = refusal({ driver, redis: { host: '', port: 6380 } });
      expect(error.option).toBe('redis.host');
      expect(error.message).toMatch(/^EventBusModule option 'redis\.host' is '' \(an unset environment variable such as REDIS_HOST\?\)/);
      expect(error.message).toMatch(/give redis\.url .*redis\.host/);
    });

    it(`${driver}: a block that names no server at all (only a port and a prefix)`, () => {
      const error = refusal({ driver, redis: { port: 6380, channelPrefix: 'svc:' } });
      expect(error.option).toBe('redis.url');
      expect(error.message).toBe(
        "EventBusModule option 'redis.url' is missing: the redis block names no Redis server; give redis.url " +
          "('redis://host:6379' or 'rediss://' for TLS), redis.host (and redis.port), redis.client, redis.cluster or " +
          'redis.sentinels; there is no default of 127.0.0.1:6379',
      );
      expect(refusal({ driver, redis: {} }).option).toBe('redis.url');
    });
  }

  it('accepts every way of naming the server', () => {
    const client = { duplicate: () => client };
    const targets: Array<Record<string, unknown>> = [
      { url: 'redis://10.0.0.5:6379' },
      { url: undefined, host: 'redis.internal' },
      { host: '127.0.0.1', port: 6390 },
      { path: '/run/redis.sock' },
      { client },
      { cluster: { nodes: [{ host: '127.0.0.1', port: 7000 }] } },
      { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'mymaster' },
    ];
    for (const redis of targets) {
      expect(() => resolveEventBusOptions({ driver: 'redis', redis } as EventBusModuleOptions), JSON.stringify(redis)).not.toThrow();
    }
  });

  it('leaves a redis block alone on the memory driver (an app may carry one it only uses in production)', () => {
    expect(() => resolveEventBusOptions({ driver: 'memory', redis: { url: undefined } })).not.toThrow();
    expect(() => resolveEventBusOptions({ redis: { channelPrefix: 'svc:' } })).not.toThrow();
  });
});
