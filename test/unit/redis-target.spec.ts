import { describe, expect, it } from 'vitest';
import { describeRedisTarget } from '../../lib/drivers/redis/shared/redis-target';
import type { ResolvedEventBusOptions } from '../../lib/options/resolved-options.interface';

const target = (redis: Record<string, unknown>): string =>
  describeRedisTarget({
    channelPrefix: 'goevent:',
    maxEventSize: 1,
    maxEventDepth: 64,
    publishTimeoutMs: 1,
    ...redis,
  } as ResolvedEventBusOptions['redis']);

describe('the Redis target in log lines and errors', () => {
  it('names host, port, db and user, never the password', () => {
    expect(target({ url: 'redis://app:s3cret@10.0.0.5:6380/2' })).toBe("redis://10.0.0.5:6380/2 as user 'app'");
    expect(target({ url: 'redis://:s3cret@10.0.0.5:6380' })).toBe('redis://10.0.0.5:6380');
    expect(target({ url: 'rediss://10.0.0.5', username: 'app', password: 's3cret', db: 3 })).toBe("rediss://10.0.0.5/3 as user 'app'");
    expect(target({ host: 'cache', port: 6390, username: 'app', password: 's3cret', db: 1 })).toBe("redis://cache:6390/1 as user 'app'");
    expect(target({ host: 'cache', tls: true })).toBe('rediss://cache:6379');
    expect(target({ path: '/run/redis.sock' })).toBe('unix:/run/redis.sock');
    expect(target({ sentinels: [{ host: 's1', port: 26379 }, { host: 's2' }], name: 'mymaster', password: 's3cret' })).toBe(
      "master 'mymaster' via sentinels s1:26379,s2:26379",
    );
    expect(target({ url: 'not a url s3cret' })).toBe('redis.url (not a valid URL)');
    for (const form of [{ url: 'redis://u:s3cret@h:1/0' }, { host: 'h', password: 's3cret' }, { url: 'not a url s3cret' }]) {
      expect(target(form)).not.toContain('s3cret');
    }
  });
});
