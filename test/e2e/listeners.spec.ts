import { Controller, Injectable } from '@nestjs/common';
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainEvent, EventBus, EventError, EventRegistry, InvalidEventError, OnEvent } from 'nestjs-event-bus';
import { bootApp, sleep, type BootedApp } from '../support/boot-app';

@DomainEvent('lst.user.registered')
class UserRegistered {
  constructor(readonly userId: string) {}
}

@DomainEvent('lst.user.deleted')
class UserDeleted {
  constructor(readonly userId: string) {}
}

@DomainEvent('lst.order.created', { type: 'lst.order.created.v2' })
class OrderCreatedV2 {
  constructor(
    readonly orderId: string,
    readonly version = 2,
  ) {}
}

class NotAnEvent {
  constructor(readonly x = 1) {}
}

@Injectable()
class Recorder {
  readonly calls: Array<[string, unknown]> = [];

  @OnEvent('lst.user.registered')
  byName(event: UserRegistered) {
    this.calls.push(['byName', event]);
  }

  @OnEvent(UserRegistered)
  byClass(event: UserRegistered) {
    this.calls.push(['byClass', event]);
  }

  @OnEvent(['lst.user.registered', UserDeleted])
  byArray(event: unknown) {
    this.calls.push(['byArray', event]);
  }

  @OnEvent('lst.user.*')
  oneSegment(event: unknown) {
    this.calls.push(['oneSegment', event]);
  }

  @OnEvent('lst.**')
  anyDepth(event: unknown) {
    this.calls.push(['anyDepth', event]);
  }

  @OnEvent('lst.user.registered')
  @OnEvent(OrderCreatedV2, { async: true })
  stacked(event: unknown) {
    this.calls.push(['stacked', event]);
  }

  @OnEvent('lst.untyped')
  untyped(payload: unknown) {
    this.calls.push(['untyped', payload]);
  }

  @OnEvent('lst.fails')
  failing(): void {
    throw new Error('handler broke');
  }

  notAListener() {
    this.calls.push(['notAListener', undefined]);
  }
}

@Controller()
class Ctl {
  constructor(readonly bus: EventBus) {}
}

const methods = (r: Recorder) => r.calls.map(([m]) => m);

describe('listeners and dispatch', () => {
  let booted: BootedApp;
  let recorder: Recorder;
  afterEach(async () => {
    await booted?.close();
  });
  const boot = async () => {
    booted = await bootApp({ providers: [Recorder], controllers: [Ctl] });
    recorder = booted.app.get(Recorder);
    return booted.bus;
  };

  it('EventBus is injectable into a controller and is the same bus as app.get(EventBus)', async () => {
    const bus = await boot();
    expect(booted.app.get(Ctl).bus).toBe(bus);
  });

  it('EventRegistry is injectable and knows the @DomainEvent classes, versioned keys included', async () => {
    await boot();
    const registry = booted.app.get(EventRegistry);
    expect(registry.resolve('lst.user.registered')).toBe(UserRegistered);
    expect(registry.resolve('lst.order.created.v2')).toBe(OrderCreatedV2);
    expect(registry.isRegistered('lst.order.created')).toBe(false);
    expect(registry.isRegistered('lst.nothing')).toBe(false);
  });

  it('@OnEvent with a name, a class, an array, `*`, `**` and stacked decorators: each listener gets the event once, in registration order', async () => {
    const bus = await boot();
    const event = new UserRegistered('u1');
    bus.dispatch(event);
    expect(methods(recorder)).toEqual(['byName', 'byClass', 'byArray', 'oneSegment', 'anyDepth', 'stacked']);
    expect(recorder.calls.every(([, e]) => e === event)).toBe(true);
  });

  it('an array listens to each of its events; a wildcard to the events it matches', async () => {
    const bus = await boot();
    bus.dispatch(new UserDeleted('u2'));
    expect(methods(recorder)).toEqual(['byArray', 'oneSegment', 'anyDepth']);
  });

  it('`*` is one segment, `**` any depth', async () => {
    const bus = await boot();
    bus.dispatch('lst.user.profile.updated', {});
    expect(methods(recorder)).toEqual(['anyDepth']);
  });

  it('@DomainEvent with a versioned type routes by its name; stacked async decorator runs after dispatch()', async () => {
    const bus = await boot();
    const handle = bus.dispatch(new OrderCreatedV2('o1'));
    expect(methods(recorder)).toEqual(['anyDepth']);
    await handle;
    expect(methods(recorder)).toEqual(['anyDepth', 'stacked']);
    expect(recorder.calls[1][1]).toBeInstanceOf(OrderCreatedV2);
    expect(handle.eventName).toBe('lst.order.created');
  });

  it("dispatch('name', payload) delivers the payload to that name's listeners", async () => {
    const bus = await boot();
    const payload = { any: 'thing' };
    const handle = bus.dispatch('lst.untyped', payload);
    expect(recorder.calls).toEqual([
      ['anyDepth', payload],
      ['untyped', payload],
    ]);
    expect(handle.eventName).toBe('lst.untyped');
  });

  it('dispatch by name reaches the listeners registered with the class of that name', async () => {
    const bus = await boot();
    bus.dispatch('lst.user.registered', { userId: 'plain' });
    expect(methods(recorder)).toEqual(['byName', 'byClass', 'byArray', 'oneSegment', 'anyDepth', 'stacked']);
  });

  it('a discovered listener that throws is named Class.method on the EventError', async () => {
    const bus = await boot();
    const handle = bus.dispatch('lst.fails');
    expect(handle.errors.map((e) => e.message)).toEqual(["event 'lst.fails' listener 'Recorder.failing': handler broke"]);
  });

  it('dispatching an object that is not a @DomainEvent gives a publisher error on the handle, runs nothing and does not throw', async () => {
    const bus = await boot();
    bus.registerListener({ eventName: '**', onEvent: () => recorder.calls.push(['catchAll', undefined]) });
    for (const bad of [new NotAnEvent(), { plain: true }, null, undefined, 42]) {
      const handle = bus.dispatch(bad as object);
      expect(handle.settled).toBe(true);
      expect(handle.errors).toHaveLength(1);
      const [error] = handle.errors;
      expect(error).toBeInstanceOf(EventError);
      expect(error.listener).toBe('publisher');
      expect(error.cause).toBeInstanceOf(InvalidEventError);
      await expect(handle.orThrow()).rejects.toThrow(/not a @DomainEvent class/);
    }
    expect(recorder.calls).toEqual([]);
  });

  describe('registerListener', () => {
    it('names a listener by its class, "anonymous" for a literal, or its explicit name, as EventError.listener shows', async () => {
      const bus = await boot();
      class BillingListener {
        readonly eventName = 'lst.named';
        onEvent(): void {
          throw new Error('billing');
        }
      }
      bus.registerListener(
        new BillingListener(),
        {
          eventName: 'lst.named',
          onEvent: () => {
            throw new Error('literal');
          },
        },
        {
          eventName: 'lst.named',
          name: 'Explicit.name',
          onEvent: () => {
            throw new Error('explicit');
          },
        },
      );
      const handle = bus.dispatch('lst.named');
      expect(handle.errors.map((e) => e.listener)).toEqual(['BillingListener', 'anonymous', 'Explicit.name']);
      expect(handle.errors.map((e) => e.message)).toEqual([
        "event 'lst.named' listener 'BillingListener': billing",
        "event 'lst.named' listener 'anonymous': literal",
        "event 'lst.named' listener 'Explicit.name': explicit",
      ]);
    });

    it('returns nothing, and calls onEvent with the listener as `this`', async () => {
      const bus = await boot();
      const seen: unknown[] = [];
      const listener = {
        eventName: 'lst.this',
        label: 'me',
        onEvent(this: { label: string }) {
          seen.push(this.label);
        },
      };
      expect(bus.registerListener(listener)).toBeUndefined();
      bus.dispatch('lst.this');
      expect(seen).toEqual(['me']);
    });

    it('accepts a class, a list and a pattern as eventName', async () => {
      const bus = await boot();
      const seen: string[] = [];
      bus.registerListener(
        { eventName: UserDeleted, onEvent: () => seen.push('class') },
        { eventName: ['lst.a', 'lst.b'], onEvent: () => seen.push('list') },
        { eventName: 'lst.user.*', onEvent: () => seen.push('pattern') },
      );
      bus.dispatch(new UserDeleted('x'));
      bus.dispatch('lst.a');
      bus.dispatch('lst.b');
      expect(seen).toEqual(['class', 'pattern', 'list', 'list']);
    });

    it('refuses malformed listeners and names', async () => {
      const bus = await boot();
      expect(() => bus.registerListener({ eventName: 'x' } as never)).toThrow(TypeError);
      expect(() => bus.registerListener({ eventName: '', onEvent: () => undefined })).toThrow(/non-empty string/);
      expect(() => bus.registerListener({ eventName: 'a.b*', onEvent: () => undefined })).toThrow(/whole segments/);
      expect(() => bus.registerListener({ eventName: NotAnEvent, onEvent: () => undefined })).toThrow(/NotAnEvent is not a @DomainEvent/);
      expect(() => bus.registerListener({ eventName: 'x', options: { asynch: true } as never, onEvent: () => undefined })).toThrow(
        /asynch/,
      );
    });
  });

  describe('observe and errors$', () => {
    it('observe(Class) is an Observable of the events of that class', async () => {
      const bus = await boot();
      const got = firstValueFrom(bus.observe(UserRegistered).pipe(take(2), toArray()));
      bus.dispatch(new UserRegistered('a'));
      bus.dispatch(new UserDeleted('ignored'));
      bus.dispatch(new UserRegistered('b'));
      const events = await got;
      expect(events.map((e) => e.userId)).toEqual(['a', 'b']);
      expect(events[0]).toBeInstanceOf(UserRegistered);
    });

    it("observe('lst.user.*') sees every matching event; unsubscribing stops delivery", async () => {
      const bus = await boot();
      const seen: unknown[] = [];
      const subscription = bus.observe('lst.user.*').subscribe((e) => seen.push(e));
      bus.dispatch(new UserRegistered('a'));
      bus.dispatch(new UserDeleted('b'));
      bus.dispatch(new OrderCreatedV2('c'));
      expect(seen.map((e) => (e as UserRegistered).userId)).toEqual(['a', 'b']);
      subscription.unsubscribe();
      await sleep(1);
      bus.dispatch(new UserRegistered('after'));
      expect(seen).toHaveLength(2);
    });

    it('observe() is lazy: nothing is registered before subscribing', async () => {
      const bus = await boot();
      const observable = bus.observe('lst.lazy');
      const seen: unknown[] = [];
      bus.dispatch('lst.lazy', 1);
      observable.subscribe((e) => seen.push(e));
      bus.dispatch('lst.lazy', 2);
      expect(seen).toEqual([2]);
    });

    it('errors$ emits every EventError, listener and publisher alike', async () => {
      const bus = await boot();
      const seen: EventError[] = [];
      const subscription = bus.errors$.subscribe((e) => seen.push(e));
      bus.dispatch('lst.fails');
      bus.dispatch(new NotAnEvent());
      bus.registerListener({ eventName: 'lst.async-fail', options: { async: true }, onEvent: () => Promise.reject(new Error('later')) });
      await bus.dispatch('lst.async-fail');
      subscription.unsubscribe();
      expect(seen.every((e) => e instanceof EventError)).toBe(true);
      expect(seen.map((e) => e.listener)).toEqual(['Recorder.failing', 'publisher', 'anonymous']);
      bus.dispatch('lst.fails');
      expect(seen).toHaveLength(3);
    });
  });
});
