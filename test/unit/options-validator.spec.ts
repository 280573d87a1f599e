import { describe, expect, it } from 'vitest';
import { InvalidOptionsError, MemoryDriver } from 'nestjs-event-bus';
import type { EventBusModuleOptions } from 'nestjs-event-bus';
import { resolveEventBusOptions } from '../../lib/options/event-bus-options.validator';
import { validateListenerOptions } from '../../lib/options/listener-options.validator';

function invalid(options: unknown): InvalidOptionsError {
  try {
    resolveEventBusOptions(options as EventBusModuleOptions);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidOptionsError);
    return err as InvalidOptionsError;
  }
  throw new Error(`expected ${JSON.stringify(options)} to be refused`);
}

describe('module options', () => {
  it('fills in the documented defaults', () => {
    const resolved = resolveEventBusOptions({});
    expect(resolved.driver).toBe('memory');
    expect(resolved.maxErrors).toBe(1000);
    expect(resolved.shutdownTimeoutMs).toBe(10_000);
    expect(resolved.strictTypes).toBe(false);
    expect(resolved.redis.channelPrefix).toBe('goevent:');
    expect(resolved.redis.maxEventSize).toBe(1024 * 1024);
    expect(resolved.redis.maxEventDepth).toBe(64);
    expect(resolved.redis.publishTimeoutMs).toBe(10_000);
    expect(resolveEventBusOptions(undefined).driver).toBe('memory');
  });

  it('keeps what is given', () => {
    const resolved = resolveEventBusOptions({ maxErrors: 5, shutdownTimeoutMs: 0, strictTypes: true });
    expect(resolved).toMatchObject({ maxErrors: 5, shutdownTimeoutMs: 0, strictTypes: true });
  });

  it('accepts a driver object that implements the contract', () => {
    const driver = new MemoryDriver();
    expect(resolveEventBusOptions({ driver }).driver).toBe(driver);
  });

  const cases: Array<[string, unknown, string, RegExp]> = [
    ['an unknown driver name', { driver: 'kafka' }, 'driver', /'memory', 'redis', 'redis-streams'.*got 'kafka'/],
    [
      'a driver object missing methods',
      { driver: { publish() {} } },
      'driver',
      /publish\(\), subscribe\(\), unsubscribe\(\) and close\(\)/,
    ],
    [
      'an unknown top-level option',
      { maxError: 3 },
      'maxError',
      /allowed: driver, redis, streams, maxErrors, shutdownTimeoutMs, strictTypes/,
    ],
    ['maxErrors of 0', { maxErrors: 0 }, 'maxErrors', /positive number.*got 0/],
    ['negative maxErrors', { maxErrors: -5 }, 'maxErrors', /positive number.*got -5/],
    ['maxErrors as a string', { maxErrors: '10' }, 'maxErrors', /positive number.*got '10'/],
    ['a fractional maxErrors', { maxErrors: 2.5 }, 'maxErrors', /integer|whole/],
    ['negative shutdownTimeoutMs', { shutdownTimeoutMs: -1 }, 'shutdownTimeoutMs', />= 0.*got -1/],
    ['infinite shutdownTimeoutMs', { shutdownTimeoutMs: Infinity }, 'shutdownTimeoutMs', /got Infinity/],
    ['strictTypes not a boolean', { strictTypes: 'yes' }, 'strictTypes', /true or false.*got 'yes'/],
    ['redis required by the redis driver', { driver: 'redis' }, 'redis', /required with driver 'redis'/],
    ['redis not an object', { redis: 'redis://x' }, 'redis', /must be an object/],
    ['a redis.url with another scheme', { driver: 'redis', redis: { url: 'http://localhost' } }, 'redis.url', /redis:\/\/ or rediss:\/\//],
    ['a non-string channelPrefix', { redis: { channelPrefix: 3 } }, 'redis.channelPrefix', /must be a string/],
    ['a zero maxEventSize', { redis: { maxEventSize: 0 } }, 'redis.maxEventSize', /positive number of bytes/],
    ['a fractional maxEventDepth', { redis: { maxEventDepth: 2.5 } }, 'redis.maxEventDepth', /whole number >= 1, the nesting levels allowed inside event data \(got 2.5\)/],
    ['a zero maxEventDepth', { redis: { maxEventDepth: 0 } }, 'redis.maxEventDepth', /whole number >= 1/],
    ['an unknown streams option', { streams: { groop: 'x' } }, 'streams.groop', /allowed: group, maxAttempts/],
    ['an empty streams.group', { streams: { group: '' } }, 'streams.group', /non-empty string/],
    ['a bad streams.startFrom', { streams: { startFrom: 'end' } }, 'streams.startFrom', /'new' or 'beginning'.*got 'end'/],
    ['options that are not an object', 'memory', 'options', /must be an object/],
  ];
  for (const [label, options, option, allowed] of cases) {
    it(`refuses ${label}, naming '${option}' and what is allowed`, () => {
      const error = invalid(options);
      expect(error.option).toBe(option);
      expect(error.message).toContain(`'${option}'`);
      expect(error.message).toMatch(allowed);
    });
  }
});

describe('listener options', () => {
  it('accepts the documented options', () => {
    expect(() => validateListenerOptions({ async: true, filter: () => true }, 'A.b')).not.toThrow();
  });

  it('refuses an unknown listener option, naming the listener, the option and the allowed ones', () => {
    expect(() => validateListenerOptions({ asynch: true } as never, 'Email.handle')).toThrow(
      /Email\.handle: asynch.*allowed: async, retry/,
    );
  });

  it('refuses a non-boolean async and a non-function filter', () => {
    expect(() => validateListenerOptions({ async: 'yes' } as never, 'A.b')).toThrow(/A\.b: async.*true or false/);
    expect(() => validateListenerOptions({ filter: 1 } as never, 'A.b')).toThrow(/A\.b: filter.*function/);
  });
});
