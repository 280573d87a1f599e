import { DriverUnavailableError } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BootedApp } from '../support/boot-app';
import { freezingProxy } from '../support/freezing-proxy';
import { parseInfo, redisCli } from '../support/redis-cli';
import { RedisServer } from '../support/redis-server';
import { bootStreamsApp, freshPrefix, until } from '../support/streams-test-app';

/**
 * `streams.waitReplicas`: the pipeline `[XADD…, WAIT n t]` goes out on a connection of its own. On
 * a half-open socket nothing answers it, not even WAIT's own timeout: the dispatch must still fail
 * within publishTimeoutMs, and the connection be reset so the next appends go through.
 */
describe('redis-streams waitReplicas: a half-open connection', () => {
  let master: RedisServer;
  let replica: RedisServer;
  const apps: BootedApp[] = [];

  beforeAll(async () => {
    master = await RedisServer.start();
    replica = await RedisServer.start({ config: [`replicaof 127.0.0.1 ${master.port}`] });
    await until(
      async () => parseInfo(await redisCli(replica.port, 'INFO', 'replication')).get('master_link_status') === 'up',
      10_000,
      'the replica to sync',
    );
  }, 30_000);
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(async () => {
    await replica?.destroy();
    await master?.destroy();
  });

  it('fails the dispatch with DriverUnavailableError within publishTimeoutMs, resets the connection, and the next append is confirmed', async () => {
    const proxy = await freezingProxy(master.port, 'nestjs-event-bus:streams-replicated');
    try {
      const publishTimeoutMs = 1500;
      const prefix = freshPrefix('wrw');
      const app = await bootStreamsApp(
        {},
        { url: `redis://127.0.0.1:${proxy.port}`, prefix, redis: { publishTimeoutMs }, streams: { waitReplicas: 1 } },
      );
      apps.push(app);
      expect((await app.bus.dispatch('waited.thing', 'before')).errors).toEqual([]);

      proxy.freezeCommand();
      const started = Date.now();
      const { errors } = await app.bus.dispatch('waited.thing', 'frozen');
      const took = Date.now() - started;
      expect(errors).toHaveLength(1);
      expect(errors[0].cause).toBeInstanceOf(DriverUnavailableError);
      expect(String(errors[0].cause)).toMatch(/did not answer the append and its WAIT.*reset/);
      // The deadline, plus event-loop slack on a loaded machine: never the kernel's TCP timeout.
      expect(took).toBeLessThan(publishTimeoutMs + 1000);

      // The frozen socket was reset: a new connection (which the proxy lets through) confirms the next one.
      await until(async () => (await app.bus.dispatch('waited.thing', 'after')).errors.length === 0, 10_000, 'a confirmed append');
      const entries = await redisCli(master.port, 'XRANGE', `${prefix}waited.thing`, '-', '+');
      expect(entries).toContain('before');
      expect(entries).toContain('after');
    } finally {
      await proxy.close();
    }
  }, 30_000);
});
