import { Injectable, Module } from '@nestjs/common';
import { ConfigModule, ConfigService } from '@nestjs/config';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { EventBus, EventBusModule, InvalidOptionsError, OnEvent } from 'nestjs-event-bus';
import type { INestApplication, ModuleMetadata, Type } from '@nestjs/common';
import type { EventBusModuleOptions } from 'nestjs-event-bus';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function start(imports: NonNullable<ModuleMetadata['imports']>, providers: Type[] = []): Promise<INestApplication> {
  @Module({ imports, providers })
  class Root {}
  const moduleRef = await Test.createTestingModule({ imports: [Root] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  apps.push(app);
  await app.init();
  return app;
}

/** The effective maxErrors, observed from outside: how many errors getErrors() keeps. */
function keptErrors(bus: EventBus): number {
  bus.registerListener({
    eventName: 'cfg.fail',
    onEvent: () => {
      throw new Error('x');
    },
  });
  for (let i = 0; i < 20; i++) bus.dispatch('cfg.fail');
  return bus.getErrors().length;
}

async function initError(imports: NonNullable<ModuleMetadata['imports']>, providers: Type[] = []): Promise<Error> {
  return start(imports, providers).then(
    () => {
      throw new Error('expected app.init() to fail');
    },
    (err: Error) => err,
  );
}

@Injectable()
class BusUser {
  constructor(readonly bus: EventBus) {}
}
@Module({ providers: [BusUser] })
class FeatureWithoutImport {}

describe('EventBusModule configuration', () => {
  it('forRoot() works with no options (memory driver)', async () => {
    const app = await start([EventBusModule.forRoot()]);
    expect(keptErrors(app.get(EventBus))).toBe(20);
  });

  it('forRoot(options) applies them', async () => {
    const app = await start([EventBusModule.forRoot({ driver: 'memory', maxErrors: 4 })]);
    expect(keptErrors(app.get(EventBus))).toBe(4);
  });

  it('forRootAsync with imports + inject + useFactory reads options from @nestjs/config', async () => {
    const app = await start([
      ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ bus: { maxErrors: 3 } })] }),
      EventBusModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService): EventBusModuleOptions => ({ maxErrors: config.get<number>('bus.maxErrors') }),
      }),
    ]);
    expect(keptErrors(app.get(EventBus))).toBe(3);
  });

  it('forRootAsync accepts an async factory', async () => {
    const app = await start([
      EventBusModule.forRootAsync({
        useFactory: async () => {
          await new Promise((r) => setTimeout(r, 5));
          return { maxErrors: 6 };
        },
      }),
    ]);
    expect(keptErrors(app.get(EventBus))).toBe(6);
  });

  it('forRootAsync with useClass', async () => {
    @Injectable()
    class BusOptionsFactory {
      createEventBusOptions(): EventBusModuleOptions {
        return { maxErrors: 5 };
      }
    }
    const app = await start([EventBusModule.forRootAsync({ useClass: BusOptionsFactory })]);
    expect(keptErrors(app.get(EventBus))).toBe(5);
  });

  it('forRootAsync with useExisting', async () => {
    @Injectable()
    class SharedOptions {
      createEventBusOptions(): EventBusModuleOptions {
        return { maxErrors: 7 };
      }
    }
    @Module({ providers: [SharedOptions], exports: [SharedOptions] })
    class OptionsModule {}
    const app = await start([EventBusModule.forRootAsync({ imports: [OptionsModule], useExisting: SharedOptions })]);
    expect(keptErrors(app.get(EventBus))).toBe(7);
  });

  it('is global by default: a module that does not import it can inject EventBus', async () => {
    const app = await start([EventBusModule.forRoot(), FeatureWithoutImport]);
    expect(app.get(BusUser).bus).toBe(app.get(EventBus));
  });

  it('forRootAsync is global by default too', async () => {
    const app = await start([EventBusModule.forRootAsync({ useFactory: () => ({}) }), FeatureWithoutImport]);
    expect(app.get(BusUser).bus).toBeInstanceOf(EventBus);
  });

  it('isGlobal: false: the bus is not visible to a module that does not import it', async () => {
    const error = await initError([EventBusModule.forRoot({ isGlobal: false }), FeatureWithoutImport]);
    expect(error.message).toMatch(/EventBus/);
    expect(error.message).toMatch(/BusUser/);
  });

  it('isGlobal: false: the module that imports it can inject it, and listeners anywhere are still discovered', async () => {
    const seen: string[] = [];
    @Injectable()
    class Elsewhere {
      @OnEvent('cfg.local')
      on() {
        seen.push('elsewhere');
      }
    }
    @Module({ providers: [Elsewhere] })
    class OtherModule {}
    @Injectable()
    class Dispatcher {
      constructor(readonly bus: EventBus) {}
    }
    @Module({ imports: [EventBusModule.forRoot({ isGlobal: false })], providers: [Dispatcher] })
    class WithImport {}
    const app = await start([WithImport, OtherModule]);
    app.get(Dispatcher).bus.dispatch('cfg.local');
    expect(seen).toEqual(['elsewhere']);
  });

  it('forRootAsync with isGlobal: false is not global', async () => {
    const error = await initError([EventBusModule.forRootAsync({ isGlobal: false, useFactory: () => ({}) }), FeatureWithoutImport]);
    expect(error.message).toMatch(/EventBus/);
  });

  describe('bad options fail app.init() with a message naming the option and what is allowed', () => {
    const cases: Array<[string, EventBusModuleOptions, string, RegExp]> = [
      ['an unknown driver', { driver: 'kafka' as never }, 'driver', /'memory', 'redis', 'redis-streams'/],
      ['a negative maxErrors', { maxErrors: -1 }, 'maxErrors', /positive number/],
      ['a fractional maxErrors', { maxErrors: 1.5 }, 'maxErrors', /whole positive number/],
      ['a negative shutdownTimeoutMs', { shutdownTimeoutMs: -5 }, 'shutdownTimeoutMs', />= 0/],
      ['a non-boolean strictTypes', { strictTypes: 1 as never }, 'strictTypes', /true or false/],
      [
        'an unknown option',
        { maxErorrs: 3 } as never,
        'maxErorrs',
        /allowed: driver, redis, streams, maxErrors, shutdownTimeoutMs, strictTypes/,
      ],
    ];
    for (const [label, options, option, allowed] of cases) {
      it(`forRoot with ${label}`, async () => {
        const error = await initError([EventBusModule.forRoot(options)]);
        expect(error).toBeInstanceOf(InvalidOptionsError);
        expect(error.message).toContain(`'${option}'`);
        expect(error.message).toMatch(allowed);
      });
    }

    it('forRootAsync with a factory returning a bad option', async () => {
      const error = await initError([EventBusModule.forRootAsync({ useFactory: () => ({ driver: 'nats' as never }) })]);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect(error.message).toMatch(/'driver'.*'memory', 'redis', 'redis-streams'/);
    });

    it('a bad @OnEvent option fails app.init() naming the listener and the option', async () => {
      @Injectable()
      class Misconfigured {
        @OnEvent('cfg.bad', { asynk: true } as never)
        on() {}
      }
      const error = await initError([EventBusModule.forRoot()], [Misconfigured]);
      expect(error.message).toMatch(/Misconfigured\.on/);
      expect(error.message).toMatch(/asynk/);
      expect(error.message).toMatch(/allowed: async/);
    });

    it('a bad @OnEvent event name fails app.init() naming the listener', async () => {
      @Injectable()
      class BadPattern {
        @OnEvent('cfg.bad*')
        on() {}
      }
      const error = await initError([EventBusModule.forRoot()], [BadPattern]);
      expect(error.message).toMatch(/BadPattern\.on/);
      expect(error.message).toMatch(/whole segments/);
    });
  });
});

describe('a redis block that names no server fails app.init() (no silent 127.0.0.1:6379)', () => {
  const cases: Array<[string, EventBusModuleOptions, string]> = [
    ['redis: { url: process.env.REDIS_URL } with the variable unset', { driver: 'redis', redis: { url: undefined } }, 'redis.url'],
    ["redis: { url: '' }", { driver: 'redis-streams', redis: { url: '' }, streams: { group: 'g' } }, 'redis.url'],
    ['a block with only a channelPrefix', { driver: 'redis', redis: { channelPrefix: 'svc:' } }, 'redis.url'],
  ];
  for (const [label, options, option] of cases) {
    it(label, async () => {
      const error = await initError([EventBusModule.forRoot(options)]);
      expect(error).toBeInstanceOf(InvalidOptionsError);
      expect((error as InvalidOptionsError).option).toBe(option);
      expect(error.message).toContain(`'${option}'`);
      expect(error.message).toMatch(/give redis\.url .*redis\.host .*there is no default of 127\.0\.0\.1:6379$/);
    });
  }

  it('forRootAsync with ConfigService.get() of a missing key', async () => {
    const error = await initError([
      ConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({})] }),
      EventBusModule.forRootAsync({
        imports: [ConfigModule],
        inject: [ConfigService],
        useFactory: (config: ConfigService) => ({ driver: 'redis', redis: { url: config.get<string>('NEB_UNSET_REDIS_URL') } }),
      }),
    ]);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect(error.message).toMatch(/^EventBusModule option 'redis\.url' is undefined \(an unset environment variable such as REDIS_URL\?\)/);
  });
});
