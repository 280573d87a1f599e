import { Controller, Injectable, Module, Post } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DispatchTimeoutError, DomainEvent, EventBus, EventBusModule, OnEvent } from 'nestjs-event-bus';
import { afterEach, describe, expect, it } from 'vitest';
import { BusRuntime } from '../../lib/core/bus-runtime';

@DomainEvent('rec.user.registered')
class UserRegistered {
  constructor(readonly userId: string) {}
}

@DomainEvent('rec.welcome.sent')
class WelcomeSent {
  constructor(readonly userId: string) {}
}

@Injectable()
class Welcomer {
  constructor(private readonly bus: EventBus) {}

  @OnEvent(UserRegistered, { async: true })
  async welcome(event: UserRegistered): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.bus.dispatch(new WelcomeSent(event.userId));
  }

  @OnEvent(UserRegistered)
  audit(): void {}
}

@Controller('users')
class UsersController {
  constructor(private readonly bus: EventBus) {}

  @Post()
  register(): { ok: true } {
    this.bus.dispatch(new UserRegistered('u1'));
    return { ok: true };
  }
}

@Module({ imports: [EventBusModule.forRoot()], providers: [Welcomer], controllers: [UsersController] })
class AppModule {}

describe('bus.record(): a recorder for tests', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function boot() {
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.init();
    close = () => app.close();
    return { app, bus: app.get(EventBus), runtime: app.get(BusRuntime) };
  }

  it('waitFor resolves with an event dispatched by a listener in reaction to another', async () => {
    const { app, bus } = await boot();
    const recorder = bus.record();
    await app.get(UsersController).register();
    const sent = await recorder.waitFor(WelcomeSent, { where: (e) => e.userId === 'u1', timeoutMs: 1_000 });
    expect(sent).toBeInstanceOf(WelcomeSent);
    expect(sent.userId).toBe('u1');
    expect(recorder.dispatched(UserRegistered)).toEqual([new UserRegistered('u1')]);
    // Delivered to two listeners: one entry.
    expect(recorder.received(UserRegistered)).toEqual([new UserRegistered('u1')]);
    // No listener for WelcomeSent: dispatched, not received.
    expect(recorder.received(WelcomeSent)).toEqual([]);
    expect(recorder.dispatched('rec.*.*')).toHaveLength(2);
    expect(recorder.dispatched('rec.welcome.sent')).toHaveLength(1);
    recorder.stop();
  });

  it('an event recorded before waitFor counts; where filters; a timeout rejects with DispatchTimeoutError', async () => {
    const { bus } = await boot();
    const recorder = bus.record();
    bus.dispatch('rec.plain', { n: 1 });
    bus.dispatch('rec.plain', { n: 2 });
    await expect(recorder.waitFor<{ n: number }>('rec.plain', { where: (e) => e.n === 2 })).resolves.toEqual({ n: 2 });
    const late = recorder.waitFor<{ n: number }>('rec.plain', { where: (e) => e.n === 3, timeoutMs: 1_000 });
    setTimeout(() => bus.dispatch('rec.plain', { n: 3 }), 20);
    await expect(late).resolves.toEqual({ n: 3 });
    const started = Date.now();
    const never = recorder.waitFor(UserRegistered, { where: (e) => e.userId === 'nobody', timeoutMs: 100 });
    await expect(never).rejects.toBeInstanceOf(DispatchTimeoutError);
    await expect(never).rejects.toThrow('recorder.waitFor(UserRegistered) did not settle within 100 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(95);
    recorder.stop();
  });

  it('records only between record() and stop(); stop() rejects pending waits; nothing observes the bus otherwise', async () => {
    const { bus, runtime } = await boot();
    const observerOf = () => (runtime as unknown as { observer: unknown }).observer;
    bus.dispatch('rec.before', {});
    expect(observerOf()).toBeUndefined();
    const recorder = bus.record();
    expect(observerOf()).toBeDefined();
    bus.dispatch('rec.during', {});
    const pending = recorder.waitFor('rec.never');
    recorder.stop();
    await expect(pending).rejects.toThrow(/stopped before a matching event came/);
    bus.dispatch('rec.after', {});
    expect(observerOf()).toBeUndefined();
    expect(recorder.dispatched('rec.*')).toEqual([{}]);
    expect(recorder.dispatched('rec.before')).toEqual([]);
    expect(recorder.dispatched('rec.after')).toEqual([]);
    // Two recorders at once are independent.
    const a = bus.record();
    const b = bus.record();
    bus.dispatch('rec.both', { x: 1 });
    a.stop();
    bus.dispatch('rec.both', { x: 2 });
    expect(a.dispatched('rec.both')).toHaveLength(1);
    expect(b.dispatched('rec.both')).toHaveLength(2);
    b.stop();
    expect(observerOf()).toBeUndefined();
  });

  it('refuses a target that is neither a @DomainEvent class nor a name', async () => {
    const { bus } = await boot();
    const recorder = bus.record();
    class NotAnEvent {}
    expect(() => recorder.dispatched(NotAnEvent)).toThrow(
      'recorder: NotAnEvent is not a @DomainEvent class (pass the class or an event name)',
    );
    expect(() => recorder.received('')).toThrow(/pass a @DomainEvent class or an event name or pattern/);
    recorder.stop();
  });

  it('a where that throws fails that waitFor, not the dispatch', async () => {
    const { bus } = await boot();
    const recorder = bus.record();
    const waiting = recorder.waitFor('rec.boom', {
      where: () => {
        throw new Error('bad predicate');
      },
    });
    const handle = bus.dispatch('rec.boom', {});
    expect(handle.errors).toEqual([]);
    await expect(waiting).rejects.toThrow('bad predicate');
    recorder.stop();
  });
});
