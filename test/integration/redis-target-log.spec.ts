import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventBusModule, OnEvent } from 'nestjs-event-bus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CapturingLogger } from '../support/capturing-logger';
import { RedisServer } from '../support/redis-server';

@Injectable()
class Listener {
  @OnEvent('target.ping')
  onPing(): void {}
}

describe.each(['redis', 'redis-streams'] as const)('driver %s logs its Redis target once at start-up', (driver) => {
  const PASSWORD = 'pw-never-logged-7f3a';
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start({ config: [`user app on >${PASSWORD} ~* &* +@all`] });
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it.each([
    ['url credentials', (port: number) => ({ url: `redis://app:${PASSWORD}@127.0.0.1:${port}/0` })],
    ['options', (port: number) => ({ host: '127.0.0.1', port, username: 'app', password: PASSWORD, db: 0 })],
  ])('with %s: context EventBus, user named, password never', async (_form, redis) => {
    @Module({ imports: [EventBusModule.forRoot({ driver, redis: redis(server.port), streams: { group: 'svc' } })], providers: [Listener] })
    class AppModule {}
    const logger = new CapturingLogger();
    const app = await Test.createTestingModule({ imports: [AppModule] })
      .setLogger(logger)
      .compile();
    await app.init();
    await app.close();
    const target = logger.lines.filter((l) => /connecting to/.test(l.message));
    expect(target).toEqual([
      { level: 'log', message: `${driver} driver: connecting to redis://127.0.0.1:${server.port}/0 as user 'app'`, context: 'EventBus' },
    ]);
    expect(JSON.stringify(logger.lines)).not.toContain(PASSWORD);
  });
});
