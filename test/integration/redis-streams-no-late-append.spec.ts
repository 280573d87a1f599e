import { DriverUnavailableError } from 'nestjs-event-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, rawRedis, until } from '../support/streams-test-app';

// §6: a transport failure is reported on the handle and the event "is never sent later".
describe('redis-streams: an append that failed is never appended later', () => {
  let server: RedisServer;

  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    if (server.pid !== undefined) {
      try {
        process.kill(server.pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    await server?.destroy();
  });

  it('an XADD written to a stalled Redis fails by publishTimeoutMs and is not resent after Redis restarts', async () => {
    const prefix = freshPrefix('late');
    const { bus, close } = await bootStreamsApp({}, { url: server.url, prefix, redis: { publishTimeoutMs: 400 } });
    try {
      expect((await bus.dispatch('order.created', { n: 'warm-up' })).errors).toEqual([]);
      // The server stops reading: the append is written to the socket but never answered.
      process.kill(server.pid!, 'SIGSTOP');
      const { errors } = await bus.dispatch('order.created', { n: 'lost' });
      expect(errors).toHaveLength(1);
      expect(errors[0].listener).toBe('publisher');
      expect(errors[0].cause).toBeInstanceOf(DriverUnavailableError);
      // Failed means "not confirmed": the server may have read it before it stopped.
      expect((errors[0].cause as Error).message).toBe(
        'Redis did not confirm the append within redis.publishTimeoutMs (400 ms); it was not retried and may still have been appended (at-least-once delivery may then deliver it)',
      );
      // It never read the command; a restart on the same port and the client reconnects.
      await server.kill();
      await server.launch();
      await until(async () => (await bus.dispatch('order.created', { n: 'after' })).errors.length === 0, 15_000, 'appends to work again');
      await sleep(300);
      const redis = rawRedis(server.url);
      try {
        const entries = (await redis.xrange(`${prefix}order.created`, '-', '+')) as Array<[string, string[]]>;
        const sent = entries.map(([, fields]) => JSON.parse(fields[fields.indexOf('envelope') + 1]).event_data.n);
        expect(sent).not.toContain('lost');
        expect(sent).toContain('after');
      } finally {
        redis.disconnect();
      }
    } finally {
      await close();
    }
  });
});
