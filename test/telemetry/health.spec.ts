import { Injectable } from '@nestjs/common';
import { EventBusHealthIndicator, OnEvent, type EventBusHealthDetails } from 'nestjs-event-bus';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bootApp, type BootedApp } from '../support/boot-app';
import { RedisServer } from '../support/redis-server';
import { freshPrefix, rawRedis, until } from '../support/streams-test-app';

let server: RedisServer;
const apps: BootedApp[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.destroy();
});
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function boot(...args: Parameters<typeof bootApp>): Promise<BootedApp> {
  const app = await bootApp(...args);
  apps.push(app);
  return app;
}

async function check(app: BootedApp, limits = {}): Promise<EventBusHealthDetails> {
  const result = await app.app.get(EventBusHealthIndicator).isHealthy('event-bus', limits);
  return result['event-bus'];
}

@Injectable()
class Worker {
  @OnEvent('job.run')
  run(): void {}
  @OnEvent('job.broken', { retry: { attempts: 1 } })
  broken(): void {
    throw new Error('broken');
  }
}

describe('EventBusHealthIndicator', () => {
  it('memory driver: up, with the driver and state in the details', async () => {
    const app = await boot({}, {});
    const details = await check(app);
    expect(details).toMatchObject({ status: 'up', driver: 'memory', state: 'ready', connected: true });
  });

  it.each([
    { driver: 'redis' as const, connections: { publisher: 'ready', subscriber: 'ready' } },
    { driver: 'redis-streams' as const, connections: { commands: 'ready', reads: 'ready', 'bulk reads': 'ready', 'wake-up': 'ready' } },
  ])(
    '$driver: up → down when redis-server is SIGKILLed (within connectTimeout) → up after a restart on the same port',
    async ({ driver, connections }) => {
      const own = await RedisServer.start();
      try {
        const app = await boot(
          { providers: [Worker] },
          {
            driver,
            redis: { url: own.url, channelPrefix: freshPrefix('hp'), connectTimeout: 1000 },
            ...(driver === 'redis-streams' ? { streams: { group: 'svc', blockMs: 200 } } : {}),
          },
        );
        // The streams readers connect right after start-up.
        await until(async () => (await check(app)).status === 'up', 5000, 'health up');
        expect(await check(app)).toMatchObject({ status: 'up', driver, connected: true, connections, consumers: 2 });
        const port = own.port;
        await own.kill();
        const started = Date.now();
        const down = await check(app);
        expect(Date.now() - started).toBeLessThan(1500);
        expect(down.status).toBe('down');
        expect(down.connected).toBe(false);
        expect(down.reasons?.join(' ')).toMatch(/Redis|connect/);
        await own.launch();
        expect(own.port).toBe(port);
        await until(async () => (await check(app)).status === 'up', 15_000, 'health up after restart');
        expect(await check(app)).toMatchObject({ status: 'up', connected: true, connections });
        // Up means working: a dispatch after the restart is sent.
        await app.bus.dispatch('job.run', {}).orThrow();
      } finally {
        await own.destroy();
      }
    },
  );

  it('redis-streams: details per group; down on maxLag, maxPending and maxDeadLetters; up within the limits', async () => {
    const prefix = freshPrefix('hs');
    const app = await boot(
      { providers: [Worker] },
      {
        driver: 'redis-streams',
        redis: { url: server.url, channelPrefix: prefix, connectTimeout: 1000 },
        streams: { group: 'svc', blockMs: 200, maxAttempts: 1 },
      },
    );
    const raw = rawRedis(server.url);
    try {
      // A group of this service that nobody reads: entries lag there, and stay pending once read.
      await raw.call('XGROUP', 'CREATE', `${prefix}job.run`, 'svc:Idle.run', '$', 'MKSTREAM');
      for (let i = 0; i < 3; i++) await app.bus.dispatch('job.run', { i }).orThrow();
      await raw.call('XREADGROUP', 'GROUP', 'svc:Idle.run', 'c1', 'COUNT', '1', 'STREAMS', `${prefix}job.run`, '>');
      await app.bus.dispatch('job.broken', {}).orThrow();
      const detailsOf = async (): Promise<EventBusHealthDetails> => check(app);
      await until(
        async () => ((await detailsOf()).groups ?? []).some((g) => g.event === 'job.broken' && g.deadLetters === 1),
        10_000,
        'a dead letter',
      );
      const details = await detailsOf();
      expect(details).toMatchObject({ status: 'up', driver: 'redis-streams', connected: true, consumers: 2 });
      // The app's reading connections are shared by all its listeners.
      expect(Object.keys(details.connections).sort()).toEqual(['bulk reads', 'commands', 'reads', 'wake-up']);
      const idle = details.groups!.find((g) => g.group === 'svc:Idle.run')!;
      expect(idle).toMatchObject({ event: 'job.run', lag: 2, pending: 1, deadLetters: 0 });
      await until(async () => (await detailsOf()).groups!.find((g) => g.group === 'svc:Worker.run')?.lag === 0, 5000, 'worker caught up');

      expect((await check(app, { maxLag: 2, maxPending: 1, maxDeadLetters: 1 })).status).toBe('up');
      const lag = await check(app, { maxLag: 1 });
      expect(lag.status).toBe('down');
      expect(lag.reasons).toEqual([`group 'svc:Idle.run' of 'job.run' lags 2 entries (maxLag 1)`]);
      const pending = await check(app, { maxPending: 0 });
      expect(pending.status).toBe('down');
      expect(pending.reasons).toEqual([`group 'svc:Idle.run' of 'job.run' has 1 pending entries (maxPending 0)`]);
      const dead = await check(app, { maxDeadLetters: 0 });
      expect(dead.status).toBe('down');
      expect(dead.reasons).toEqual([`'job.broken' has 1 dead letters (maxDeadLetters 0)`]);
    } finally {
      raw.disconnect();
    }
  });

  it('answers down within connectTimeout while redis-server is SIGSTOPped, up again after SIGCONT', async () => {
    const own = await RedisServer.start();
    try {
      for (const driver of ['redis', 'redis-streams'] as const) {
        const app = await boot(
          { providers: [Worker] },
          {
            driver,
            redis: { url: own.url, channelPrefix: freshPrefix('hz'), connectTimeout: 800 },
            ...(driver === 'redis-streams' ? { streams: { group: 'svc', blockMs: 200 } } : {}),
          },
        );
        await until(async () => (await check(app)).status === 'up', 5000, `${driver} up`);
        process.kill(own.pid!, 'SIGSTOP');
        try {
          const started = Date.now();
          const down = await check(app);
          const took = Date.now() - started;
          expect(down.status).toBe('down');
          expect(took).toBeGreaterThanOrEqual(700);
          expect(took).toBeLessThan(1300);
          expect(down.reasons?.join(' ')).toMatch(/800 ms/);
        } finally {
          process.kill(own.pid!, 'SIGCONT');
        }
        await until(async () => (await check(app)).status === 'up', 10_000, `${driver} up after SIGCONT`);
      }
    } finally {
      await Promise.all(apps.splice(0).map((a) => a.close()));
      await own.destroy();
    }
  });

  it('is down once the bus is closed', async () => {
    const app = await boot({}, { driver: 'redis', redis: { url: server.url, channelPrefix: freshPrefix('hc') } });
    apps.pop();
    const indicator = app.app.get(EventBusHealthIndicator);
    await app.close();
    const details = (await indicator.isHealthy())['event-bus'];
    expect(details.status).toBe('down');
    expect(details.state).toBe('closed');
  });
});
