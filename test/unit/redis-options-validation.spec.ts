import { InvalidOptionsError } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { resolveEventBusOptions } from '../../lib/options/event-bus-options.validator';

/** The Redis connection options the contract names are checked at start-up, naming the option. */
describe('redis connection options', () => {
  const invalid = (redis: Record<string, unknown>): InvalidOptionsError => {
    try {
      resolveEventBusOptions({ driver: 'redis', redis });
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidOptionsError);
      return err as InvalidOptionsError;
    }
    throw new Error(`accepted ${JSON.stringify(redis)}`);
  };

  const cases: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ['a non-string host', { host: 127 }, 'redis.host', /must be a string.*got 127/],
    ['a non-string username', { host: 'h', username: ['u'] }, 'redis.username', /must be a string/],
    ['a non-string password', { host: 'h', password: 5 }, 'redis.password', /must be a string.*got 5/],
    ['a db that is not an integer', { host: 'h', db: 'x' }, 'redis.db', /integer >= 0.*got 'x'/],
    ['a negative db', { host: 'h', db: -1 }, 'redis.db', /integer >= 0.*got -1/],
    ['a tls that is a string', { host: 'h', tls: 'yes' }, 'redis.tls', /true, false or an object.*got 'yes'/],
    ['a negative connectTimeout', { host: 'h', connectTimeout: -3 }, 'redis.connectTimeout', /positive number of ms.*got -3/],
    ['a zero commandTimeout', { host: 'h', commandTimeout: 0 }, 'redis.commandTimeout', /positive number of ms.*got 0/],
    ['a client that is not an ioredis instance', { client: { publish() {} } }, 'redis.client', /ioredis Redis or Cluster instance/],
    ['a client that is a number', { client: 5 }, 'redis.client', /ioredis Redis or Cluster instance.*got 5/],
  ];
  for (const [label, redis, option, allowed] of cases) {
    it(`refuses ${label}, naming '${option}' and what is allowed`, () => {
      const error = invalid(redis);
      expect(error.option).toBe(option);
      expect(error.message).toContain(`'${option}'`);
      expect(error.message).toMatch(allowed);
    });
  }

  it('accepts valid values, and passes other ioredis options through untouched', () => {
    const client = { duplicate: () => client };
    const resolved = resolveEventBusOptions({
      driver: 'redis',
      redis: {
        host: 'h',
        port: 6380,
        username: 'u',
        password: 'p',
        db: 0,
        tls: { rejectUnauthorized: false },
        connectTimeout: 5,
        commandTimeout: 5,
        keepAlive: 1000,
      },
    });
    expect(resolved.redis).toMatchObject({ db: 0, tls: { rejectUnauthorized: false }, keepAlive: 1000 });
    expect(() => resolveEventBusOptions({ driver: 'redis', redis: { tls: true, url: 'rediss://h' } })).not.toThrow();
    expect(() => resolveEventBusOptions({ driver: 'redis', redis: { client: client as never } })).not.toThrow();
  });
});

/** ioredis's keyPrefix would put some redis-streams keys under it and not others: refused, saying to use channelPrefix. */
describe('keyPrefix with the redis-streams driver', () => {
  const withPrefix = { duplicate: () => withPrefix, options: { keyPrefix: 'kp:' } };
  const start = (driver: 'redis' | 'redis-streams', redis: Record<string, unknown>) => () => resolveEventBusOptions({ driver, redis });

  it.each([
    ['redis.keyPrefix', { url: 'redis://127.0.0.1:1', keyPrefix: 'kp:' }],
    ['redis.client', { client: withPrefix }],
    ['redis.cluster.options', { cluster: { nodes: ['127.0.0.1:7000'], options: { redisOptions: { keyPrefix: 'kp:' } } } }],
  ])('refuses a keyPrefix in %s, saying to move it to channelPrefix', (option, redis) => {
    expect(start('redis-streams', redis)).toThrow(InvalidOptionsError);
    expect(start('redis-streams', redis)).toThrow(
      new RegExp(`'${option.replace(/\./g, '\\.')}'.*keyPrefix 'kp:'.*channelPrefix: 'kp:goevent:'`),
    );
  });

  it('lets the pub/sub driver use a client with a keyPrefix (it uses channels, which ioredis does not prefix)', () => {
    expect(start('redis', { client: withPrefix })).not.toThrow();
  });
});
