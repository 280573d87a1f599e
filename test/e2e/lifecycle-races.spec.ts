import { describe, expect, it } from 'vitest';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { EventBus, EventBusClosedError } from 'nestjs-event-bus';
import type { EventBusDriver } from 'nestjs-event-bus';
import { bootApp, deferred } from '../support/boot-app';
import { SlowInitDriver } from '../support/slow-init-driver';
import { readyStandaloneBus, standaloneBus, tick } from '../support/standalone-bus';

describe('close() while start() is still connecting the driver', () => {
  it('closes the driver once start is over, and the bus stays closed', async () => {
    const driver = new SlowInitDriver();
    const { bus, runtime } = standaloneBus({ driver });
    const starting = runtime.start();
    await tick();
    const closing = bus.close();
    driver.initGate.resolve();
    await starting.catch(() => undefined);
    await closing;
    // The driver was connected by start(): close() must release it, not leave it open.
    expect(driver.closes).toBe(1);
    // And start() finishing late must not bring the bus back: dispatches still fail as closed.
    runtime.markReady();
    const handle = bus.dispatch('late.event', { n: 1 });
    const { errors } = await handle;
    expect(errors).toHaveLength(1);
    expect(errors[0].cause).toBeInstanceOf(EventBusClosedError);
    expect(driver.published).toHaveLength(0);
  });
});

describe('close() called from inside a listener', () => {
  it('still drains the dispatch that listener belongs to (its async listener finishes before close resolves)', async () => {
    const { bus } = await readyStandaloneBus();
    const gate = deferred();
    const order: string[] = [];
    let closing: Promise<void> | undefined;
    bus.registerListener(
      {
        eventName: 'close.inside',
        name: 'slow',
        options: { async: true },
        onEvent: async () => {
          await gate.promise;
          order.push('slow listener done');
        },
      },
      {
        eventName: 'close.inside',
        name: 'closer',
        onEvent: () => {
          closing = bus.close().then(() => void order.push('closed'));
        },
      },
    );
    const handle = bus.dispatch('close.inside', {});
    await tick();
    gate.resolve();
    await closing;
    await handle.wait({ timeoutMs: 1000 });
    expect(order).toEqual(['slow listener done', 'closed']);
  });
});

describe("a subscription of a listener registered in another provider's onModuleInit", () => {
  it('that fails fails app.init(), like one discovered by @OnEvent', async () => {
    class RefusingDriver implements EventBusDriver {
      readonly delivery = 'broadcast' as const;
      closes = 0;
      publish(): void {}
      async subscribe(key: string): Promise<void> {
        await tick();
        throw new Error(`cannot subscribe to ${key}`);
      }
      unsubscribe(): void {}
      async close(): Promise<void> {
        this.closes++;
      }
    }
    @Injectable()
    class RegistersInInit implements OnModuleInit {
      constructor(private readonly bus: EventBus) {}
      onModuleInit(): void {
        this.bus.registerListener({ eventName: 'late.refused', onEvent: () => undefined });
      }
    }
    const driver = new RefusingDriver();
    await expect(bootApp({ providers: [RegistersInInit] }, { driver })).rejects.toThrow(/cannot subscribe to late\.refused/);
    // app.init() failed, so Nest runs no shutdown hook: the bus released the driver itself.
    expect(driver.closes).toBe(1);
  });
});
