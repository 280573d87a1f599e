import { describe, expect, it } from 'vitest';
import { EventBus, EventBusClosedError } from 'nestjs-event-bus';
import type { DeliverFn, DriverContext, EventBusDriver, OutgoingEvent } from 'nestjs-event-bus';
import { EventCodec } from '../../lib/serialization/event-codec';
import { Injectable, type OnModuleInit } from '@nestjs/common';
import { bootApp, deferred } from '../support/boot-app';

/** A broadcast driver whose init() waits until the test lets it go, and which counts its closes. */
class SlowInitDriver implements EventBusDriver {
  readonly delivery = 'broadcast' as const;
  readonly initGate = deferred();
  readonly published: OutgoingEvent[] = [];
  subscribed: string[] = [];
  closes = 0;
  publishResult: (() => unknown) | undefined;

  async init(_context: DriverContext): Promise<void> {
    await this.initGate.promise;
  }
  publish(event: OutgoingEvent): Promise<void> | void {
    this.published.push(event);
    // A foreign thenable where the contract says a promise: what a badly written driver may return.
    return this.publishResult?.() as Promise<void> | undefined;
  }
  subscribe(key: string, _deliver: DeliverFn): void {
    this.subscribed.push(key);
  }
  unsubscribe(): void {}
  async close(): Promise<void> {
    this.closes++;
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('core review: close() while start() is still connecting the driver', () => {
  it('closes the driver once start is over, and the bus stays closed', async () => {
    const driver = new SlowInitDriver();
    const bus = new EventBus({ driver });
    const starting = bus.start();
    await tick();
    const closing = bus.close();
    driver.initGate.resolve();
    await starting.catch(() => undefined);
    await closing;
    // The driver was connected by start(): close() must release it (§7), not leave it open.
    expect(driver.closes).toBe(1);
    // And start() finishing late must not bring the bus back: dispatches still fail as closed.
    bus.markReady();
    const handle = bus.dispatch('late.event', { n: 1 });
    const { errors } = await handle;
    expect(errors).toHaveLength(1);
    expect(errors[0].cause).toBeInstanceOf(EventBusClosedError);
    expect(driver.published).toHaveLength(0);
  });
});

describe('core review: listeners returning objects whose then getter throws', () => {
  function hostileThenable(): object {
    return Object.defineProperty({}, 'then', {
      get() {
        throw new Error('then getter exploded');
      },
    });
  }

  it('a sync listener: dispatch() does not throw, the error is on the handle, the next listener runs', async () => {
    const bus = new EventBus();
    await bus.start();
    bus.markReady();
    const ran: string[] = [];
    bus.registerListener(
      { eventName: 'hostile.sync', name: 'first', onEvent: () => hostileThenable() },
      { eventName: 'hostile.sync', name: 'second', onEvent: () => void ran.push('second') },
    );
    const handle = bus.dispatch('hostile.sync', {});
    expect(ran).toEqual(['second']);
    const { errors } = await handle.wait({ timeoutMs: 1000 });
    expect(errors.map((e) => e.listener)).toEqual(['first']);
    await bus.wait({ timeoutMs: 1000 });
    await bus.close();
  });

  it('an async listener: no unhandled rejection, other async deliveries still run and bus.wait() resolves', async () => {
    const bus = new EventBus();
    await bus.start();
    bus.markReady();
    const ran: string[] = [];
    bus.registerListener(
      { eventName: 'hostile.async', name: 'bad', onEvent: () => hostileThenable(), options: { async: true } },
      { eventName: 'hostile.async', name: 'good', onEvent: () => void ran.push('good'), options: { async: true } },
    );
    const first = bus.dispatch('hostile.async', {});
    const second = bus.dispatch('hostile.async', {});
    const results = await Promise.all([first.wait({ timeoutMs: 1000 }), second.wait({ timeoutMs: 1000 })]);
    expect(ran).toEqual(['good', 'good']);
    expect(results.map((r) => r.errors.map((e) => e.listener))).toEqual([['bad'], ['bad']]);
    await bus.wait({ timeoutMs: 1000 });
    await bus.close();
  });
});

describe('core review: a driver publish() returning a foreign thenable', () => {
  async function readyBus(driver: SlowInitDriver): Promise<EventBus> {
    const bus = new EventBus({ driver });
    driver.initGate.resolve();
    await bus.start();
    bus.markReady();
    return bus;
  }

  it('that reports twice settles the handle once (its count never goes negative)', async () => {
    const driver = new SlowInitDriver();
    driver.publishResult = () => ({
      then(onFulfilled: () => void, onRejected: (e: unknown) => void) {
        onFulfilled();
        onFulfilled();
        onRejected(new Error('late failure'));
      },
    });
    const bus = await readyBus(driver);
    const handle = bus.dispatch('foreign.twice', { n: 1 });
    const { errors } = await handle.wait({ timeoutMs: 1000 });
    await tick();
    expect(errors).toEqual([]);
    expect(handle.settled).toBe(true);
    expect(bus.getErrors()).toEqual([]);
    await bus.wait({ timeoutMs: 1000 });
    await bus.close();
  });

  it('whose then() throws fails the dispatch instead of throwing from dispatch()', async () => {
    const driver = new SlowInitDriver();
    driver.publishResult = () => ({
      then() {
        throw new Error('then() exploded');
      },
    });
    const bus = await readyBus(driver);
    const handle = bus.dispatch('foreign.throws', { n: 1 });
    const { errors } = await handle.wait({ timeoutMs: 1000 });
    expect(errors).toHaveLength(1);
    expect(errors[0].listener).toBe('publisher');
    expect(String((errors[0].cause as Error).message)).toMatch(/then\(\) exploded/);
    await bus.wait({ timeoutMs: 1000 });
    await bus.close();
  });
});

describe('core review: the cached envelope encoding equals JSON.stringify of the whole envelope', () => {
  const codec = () => new EventCodec({ maxEventSize: 1024 * 1024, strictTypes: false, origin: 'bus-"1"' });

  function expectedWire(name: string, type: string, data: unknown, handleId: string, payload: string): string {
    const { timestamp } = JSON.parse(payload) as { timestamp: number };
    return JSON.stringify({
      event_name: name,
      event_type: type,
      event_data: data ?? null,
      handle_id: handleId,
      timestamp,
      origin: 'bus-"1"',
    });
  }

  class WithToJSON {
    constructor(readonly secret: string) {}
    toJSON(): unknown {
      return { shown: true };
    }
  }

  const cases: Array<[string, string, string, unknown]> = [
    ['undefined data', 'a.b', 'a.b', undefined],
    ['null data', 'a.b', 'a.b', null],
    ['quotes, unicode and </script>', 'a.b', 'a.b', { s: 'he said "hi" \\ é 😀 \u2028 </script>', n: [1, 2.5, -0] }],
    ['a lone surrogate', 'a.b', 'a.b', '\ud800x'],
    ['a toJSON()', 'a.b', 'a.b', new WithToJSON('x')],
    ['a Date', 'a.b', 'a.b', { at: new Date(0) }],
    ['a name with quotes and a versioned type', 'q."x"', 'q."x".v2', { v: 2 }],
  ];
  for (const [what, name, type, data] of cases) {
    it(what, () => {
      const out = codec().encode(name, type, data, '0123456789abcdef');
      expect(out.payload).toBe(expectedWire(name, type, data, '0123456789abcdef', out.payload));
      expect(out.size).toBe(Buffer.byteLength(out.payload));
    });
  }

  it('names and types containing NUL never share a cached head', () => {
    const c = codec();
    const pairs: Array<[string, string]> = [
      ['a', 'b\u0000c'],
      ['a\u0000b', 'c'],
      ['a\u0000b', 'a\u0000b'],
      ['a', 'b'],
    ];
    // Twice round, so every pair is also encoded with the others' heads already cached.
    for (let round = 0; round < 2; round++) {
      for (const [name, type] of pairs) {
        const out = c.encode(name, type, 1, '0123456789abcdef');
        const parsed = JSON.parse(out.payload) as { event_name: string; event_type: string };
        expect([parsed.event_name, parsed.event_type]).toEqual([name, type]);
      }
    }
  });
});

describe('core review: close() called from inside a listener', () => {
  it('still drains the dispatch that listener belongs to (its async listener finishes before close resolves)', async () => {
    const bus = new EventBus();
    await bus.start();
    bus.markReady();
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

describe('core review: a large maxErrors', () => {
  it('is a bound, not an allocation: a bus with maxErrors 2^32 is built, records, lists and clears errors', async () => {
    // Was `new Array(maxErrors)` up front: RangeError (Invalid array length) from the constructor, before
    // the options were even validated; and clearErrors() filled every slot of a large bound.
    const bus = new EventBus({ maxErrors: 2 ** 32 });
    await bus.start();
    bus.markReady();
    bus.registerListener({
      eventName: 'big.bound',
      name: 'thrower',
      onEvent: () => {
        throw new Error('boom');
      },
    });
    bus.dispatch('big.bound', {});
    bus.dispatch('big.bound', {});
    expect(bus.getErrors().map((e) => e.listener)).toEqual(['thrower', 'thrower']);
    bus.clearErrors();
    expect(bus.getErrors()).toEqual([]);
    bus.dispatch('big.bound', {});
    expect(bus.getErrors()).toHaveLength(1);
    await bus.close();
  });
});

describe('core review: bus.wait({ timeoutMs }) that times out', () => {
  it('leaves nothing behind: a busy bus polled with timed waits does not collect a waiter per call', async () => {
    const bus = new EventBus();
    await bus.start();
    bus.markReady();
    const gate = deferred();
    bus.registerListener({ eventName: 'busy.bus', name: 'held', onEvent: () => gate.promise });
    bus.dispatch('busy.bus', {});
    for (let i = 0; i < 20; i++) await expect(bus.wait({ timeoutMs: 1 })).rejects.toThrow(/did not settle/);
    // Internal, but it is the leak itself: one closure per timed-out call, kept until the bus is idle.
    expect((bus as unknown as { idleWaiters: unknown[] }).idleWaiters).toHaveLength(0);
    gate.resolve();
    await bus.wait({ timeoutMs: 1000 });
    await bus.close();
  });
});

describe("core review: a subscription of a listener registered in another provider's onModuleInit", () => {
  it('that fails fails app.init() (§7), like one discovered by @OnEvent', async () => {
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

describe('a listener rethrowing an EventError of an earlier dispatch', () => {
  it('is recorded as its own failure on this handle, with this handle id and listener name', async () => {
    const { bus, close } = await bootApp();
    try {
      bus.registerListener({
        name: 'First',
        eventName: 'rethrow.first',
        onEvent: () => {
          throw new Error('original');
        },
      });
      const first = await bus.dispatch('rethrow.first', {});
      const earlier = first.errors[0];
      bus.registerListener({
        name: 'Second',
        eventName: 'rethrow.first',
        onEvent: () => {
          throw earlier;
        },
      });
      const before = bus.stats().listenerErrors;
      const second = await bus.dispatch('rethrow.first', {});
      expect(second.errors).toHaveLength(2);
      const rethrown = second.errors.find((e) => e.listener === 'Second')!;
      expect(rethrown).not.toBe(earlier);
      expect(rethrown.handleId).toBe(second.id);
      expect(rethrown.cause).toBe(earlier);
      expect(bus.stats().listenerErrors - before).toBe(2);
    } finally {
      await close();
    }
  });
});
