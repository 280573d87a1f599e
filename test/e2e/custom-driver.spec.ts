import { afterEach, describe, expect, it } from 'vitest';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import {
  DeadLetterService,
  DomainEvent,
  EventBus,
  EventSerializationError,
  EventTooLargeError,
  InvalidEventError,
  OnEvent,
} from 'nestjs-event-bus';
import type { DeadLetter, DeadLetterStore, DeliverFn, DriverContext, EventBusDriver, OutgoingEvent } from 'nestjs-event-bus';
import { bootApp, deferred, sleep, type BootedApp } from '../support/boot-app';

@DomainEvent('drv.order.placed', { type: 'drv.order.placed.v3' })
class OrderPlaced {
  constructor(readonly orderId: string) {}
}

/** A user-written broadcast driver (the extension point), recording what the bus asks of it. */
class RecordingDriver implements EventBusDriver {
  readonly delivery = 'broadcast' as const;
  context: DriverContext | undefined;
  readonly published: OutgoingEvent[] = [];
  readonly subscriptions = new Map<string, DeliverFn>();
  readonly confirmed = new Set<string>();
  readonly unsubscribed: string[] = [];
  closeCalls = 0;
  publishResult: () => Promise<void> | void = () => undefined;

  constructor(
    readonly maxEventSize = 1024 * 1024,
    private readonly subscribeDelayMs = 0,
    private readonly failSubscribe = false,
  ) {}

  init(context: DriverContext): void {
    this.context = context;
  }
  publish(event: OutgoingEvent): Promise<void> | void {
    this.published.push(event);
    return this.publishResult();
  }
  async subscribe(key: string, deliver: DeliverFn): Promise<void> {
    this.subscriptions.set(key, deliver);
    await sleep(this.subscribeDelayMs);
    if (this.failSubscribe) throw new Error(`cannot subscribe to ${key}`);
    this.confirmed.add(key);
  }
  unsubscribe(key: string): void {
    this.subscriptions.delete(key);
    this.unsubscribed.push(key);
  }
  async close(): Promise<void> {
    this.closeCalls++;
  }
  /** Delivers a message as if it came from another process. */
  receive(key: string, fields: Record<string, unknown>): Promise<void> {
    const raw = JSON.stringify({ handle_id: 'aaaaaaaaaaaaaaaa', timestamp: 1, ...fields });
    return this.subscriptions.get(key)!(this.context!.decode(raw, `test:${key}`));
  }
}

describe('a custom driver (EventBusDriver)', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });

  async function boot(driver: RecordingDriver, setup?: (bus: EventBus) => void): Promise<EventBus> {
    @Injectable()
    class Listener {
      @OnEvent(OrderPlaced)
      on() {}
      @OnEvent('drv.*')
      onAny() {}
    }
    booted = await bootApp({ providers: [Listener] }, { driver });
    setup?.(booted.bus);
    return booted.bus;
  }

  it("refuses to send an event named '' or a pattern: a publisher error, nothing published, no listener run", async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    const seen: unknown[] = [];
    bus.registerListener({ eventName: 'drv.*', onEvent: (e) => void seen.push(e) });
    for (const name of ['', 'drv.*', 'drv.**']) {
      const { errors } = await bus.dispatch(name, { n: 1 });
      expect(errors).toHaveLength(1);
      expect(errors[0].listener).toBe('publisher');
      expect(errors[0].cause).toBeInstanceOf(InvalidEventError);
    }
    expect(driver.published).toEqual([]);
    expect(seen).toEqual([]);
  });

  it('app.init() resolves only once every listener key is subscribed and confirmed', async () => {
    const driver = new RecordingDriver(undefined, 40);
    await boot(driver);
    expect([...driver.confirmed].sort()).toEqual(['drv.*', 'drv.order.placed']);
    expect(driver.context?.busId).toMatch(/^[0-9a-f]+$/);
  });

  it("listeners registered in a provider's onModuleInit are confirmed before app.init() resolves too", async () => {
    @Injectable()
    class RegistersInInit implements OnModuleInit {
      constructor(private readonly bus: EventBus) {}
      onModuleInit() {
        this.bus.registerListener({ eventName: 'drv.registered-in-init', onEvent: () => undefined });
      }
    }
    const driver = new RecordingDriver(undefined, 40);
    booted = await bootApp({ providers: [RegistersInInit] }, { driver });
    expect(driver.confirmed.has('drv.registered-in-init')).toBe(true);
  });

  it('a subscription that fails at start-up fails app.init()', async () => {
    await expect(boot(new RecordingDriver(undefined, 0, true))).rejects.toThrow(/cannot subscribe to drv/);
    booted = undefined;
  });

  it('publishes the goevent envelope with the versioned type after running local listeners inline', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    const seen: string[] = [];
    bus.registerListener({ eventName: OrderPlaced, onEvent: () => seen.push(`local published=${driver.published.length}`) });
    const handle = bus.dispatch(new OrderPlaced('o-1'));
    expect(seen).toEqual(['local published=0']);
    await handle;
    expect(driver.published).toHaveLength(1);
    const wire = JSON.parse(driver.published[0].payload);
    expect(wire).toMatchObject({
      event_name: 'drv.order.placed',
      event_type: 'drv.order.placed.v3',
      event_data: { orderId: 'o-1' },
      handle_id: handle.id,
    });
    expect(driver.published[0].size).toBe(Buffer.byteLength(driver.published[0].payload));
  });

  it('the handle waits for the publish, and a failed publish is a publisher error after local listeners ran', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    const gate = deferred();
    driver.publishResult = () => gate.promise;
    let local = 0;
    bus.registerListener({ eventName: 'drv.x', onEvent: () => local++ });
    const handle = bus.dispatch('drv.x', {});
    expect(local).toBe(1);
    await sleep(5);
    expect(handle.settled).toBe(false);
    gate.reject(new Error('transport down'));
    const { errors } = await handle.wait({ timeoutMs: 2_000 });
    expect(errors.map((e) => [e.listener, (e.cause as Error).message])).toEqual([['publisher', 'transport down']]);
  });

  it('an event over the driver size limit is refused before anything runs or is sent', async () => {
    const driver = new RecordingDriver(150);
    const bus = await boot(driver);
    let local = 0;
    bus.registerListener({ eventName: 'drv.big', onEvent: () => local++ });
    const handle = bus.dispatch('drv.big', { blob: 'z'.repeat(500) });
    expect(handle.settled).toBe(true);
    expect(handle.errors[0].listener).toBe('publisher');
    expect(handle.errors[0].cause).toBeInstanceOf(EventTooLargeError);
    expect(handle.errors[0].message).toMatch(/over the limit of 150 bytes/);
    expect(local).toBe(0);
    expect(driver.published).toEqual([]);
  });

  it('an event that cannot be serialised is refused before anything runs or is sent', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    let local = 0;
    bus.registerListener({ eventName: 'drv.bigint', onEvent: () => local++ });
    const handle = bus.dispatch('drv.bigint', { n: 1n });
    expect(handle.errors[0].cause).toBeInstanceOf(EventSerializationError);
    expect(local).toBe(0);
    expect(driver.published).toEqual([]);
  });

  it('events from elsewhere reach the listeners of the subscribed key, rebuilt as their class; its own echo is ignored', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    const seen: unknown[] = [];
    bus.registerListener({ eventName: 'drv.order.placed', onEvent: (e) => seen.push(e) });
    await driver.receive('drv.order.placed', {
      event_name: 'drv.order.placed',
      event_type: 'drv.order.placed.v3',
      event_data: { orderId: 'remote' },
      origin: 'other-bus',
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeInstanceOf(OrderPlaced);
    await driver.receive('drv.order.placed', {
      event_name: 'drv.order.placed',
      event_data: { orderId: 'echo' },
      origin: driver.context!.busId,
    });
    expect(seen).toHaveLength(1);
  });

  it('a failing listener of a received event is an error on errors$, never an unhandled rejection', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    const errors: string[] = [];
    bus.errors$.subscribe((e) => errors.push(e.message));
    bus.registerListener({
      eventName: 'drv.remote-fail',
      name: 'RemoteListener',
      onEvent: () => {
        throw new Error('remote handling failed');
      },
    });
    await sleep(5); // registerListener() subscribes in the background
    await driver.receive('drv.remote-fail', { event_name: 'drv.remote-fail', event_data: {}, origin: 'other' });
    expect(errors).toEqual(["event 'drv.remote-fail' listener 'RemoteListener': remote handling failed"]);
  });

  it('the last listener of a key going away unsubscribes it; registering again subscribes again', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    bus.registerListener({ eventName: 'drv.dyn', onEvent: () => undefined }, { eventName: 'drv.dyn', onEvent: () => undefined });
    await sleep(5);
    expect(driver.confirmed.has('drv.dyn')).toBe(true);
    await bus.unregisterListenersForEvent('drv.dyn');
    expect(driver.unsubscribed).toEqual(['drv.dyn']);
    bus.registerListener({ eventName: 'drv.dyn', onEvent: () => undefined });
    await sleep(5);
    expect(driver.subscriptions.has('drv.dyn')).toBe(true);
  });

  it('registering and removing a key before its subscription ran leaves the driver untouched', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    bus.registerListener({ eventName: 'drv.brief', onEvent: () => undefined });
    await bus.unregisterListenersForEvent('drv.brief');
    await sleep(5);
    expect(driver.subscriptions.has('drv.brief')).toBe(false);
  });

  it('close() drains, then closes the driver once, however often it is called', async () => {
    const driver = new RecordingDriver();
    const bus = await boot(driver);
    let finished = false;
    bus.registerListener({
      eventName: 'drv.slow',
      options: { async: true },
      onEvent: async () => {
        await sleep(20);
        finished = true;
        expect(driver.closeCalls).toBe(0);
      },
    });
    bus.dispatch('drv.slow', {});
    await Promise.all([bus.close(), bus.close()]);
    await booted!.close();
    booted = undefined;
    expect(finished).toBe(true);
    expect(driver.closeCalls).toBe(1);
  });

  it('a driver that offers dead letters (a DeadLetterStore as deadLetters) serves DeadLetterService', async () => {
    const letter: DeadLetter = {
      id: '1-0',
      eventId: '0-1',
      eventName: 'drv.kept',
      handleId: 'aaaaaaaaaaaaaaaa',
      listener: 'Billing.charge',
      group: 'svc:Billing.charge',
      consumer: 'c1',
      attempts: 3,
      error: 'boom',
      failedAt: new Date(0),
      envelope: '{}',
      truncated: false,
      size: 2,
    };
    const calls: string[] = [];
    class KeepingDriver extends RecordingDriver {
      readonly deadLetters: DeadLetterStore = {
        list: async (eventName) => (calls.push(`list ${eventName}`), [letter]),
        count: async (eventName) => (calls.push(`count ${eventName}`), 1),
        replay: async (eventName, id) => void calls.push(`replay ${eventName} ${id}`),
        delete: async (eventName, id) => (calls.push(`delete ${eventName} ${id}`), true),
      };
    }
    @Injectable()
    class Admin {
      constructor(readonly dlq: DeadLetterService) {}
    }
    booted = await bootApp({ providers: [Admin] }, { driver: new KeepingDriver() });
    const dlq = booted.app.get(Admin).dlq;
    expect(await dlq.list('drv.kept')).toEqual([letter]);
    expect(await dlq.count('drv.kept')).toBe(1);
    await dlq.replay('drv.kept', '1-0');
    expect(await dlq.delete('drv.kept', '1-0')).toBe(true);
    expect(calls).toEqual(['list drv.kept', 'count drv.kept', 'replay drv.kept 1-0', 'delete drv.kept 1-0']);
  });

  it('DeadLetterService on a driver without dead letters says what it needs', async () => {
    booted = await bootApp({}, { driver: new RecordingDriver() });
    await expect(booted.app.get(DeadLetterService).count('x')).rejects.toThrow(
      /needs driver 'redis-streams': the driver in use is 'RecordingDriver'.*custom driver that offers them: set its 'deadLetters'/,
    );
  });
});
