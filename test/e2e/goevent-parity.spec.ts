import { afterEach, describe, expect, it } from 'vitest';
import { DispatchFailedError, DispatchTimeoutError, EventError } from 'nestjs-event-bus';
import type { EventBus } from 'nestjs-event-bus';
import { bootApp, deferred, sleep, type BootedApp } from '../support/boot-app';

/** goevent's own test list, on a real Nest application with the memory driver. */
describe('goevent parity (memory driver)', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (options = {}): Promise<EventBus> => {
    booted = await bootApp({}, options);
    return booted.bus;
  };

  it('sync: listeners that return synchronously have all run when dispatch() returns', async () => {
    const bus = await boot();
    const calls: string[] = [];
    bus.registerListener(
      { eventName: 'p.sync', onEvent: (e) => calls.push(`a:${(e as { n: number }).n}`) },
      { eventName: 'p.sync', onEvent: (e) => calls.push(`b:${(e as { n: number }).n}`) },
    );
    const handle = bus.dispatch('p.sync', { n: 1 });
    expect(calls).toEqual(['a:1', 'b:1']);
    expect(handle.settled).toBe(true);
    const result = await handle;
    expect(result.eventName).toBe('p.sync');
    expect(result.errors).toEqual([]);
    expect(result.id).toMatch(/^[0-9a-f]{16}$/);
    expect(result.id).toBe(handle.id);
  });

  it('async: listeners start after dispatch() returns and the handle waits for them', async () => {
    const bus = await boot();
    const calls: string[] = [];
    bus.registerListener({
      eventName: 'p.async',
      options: { async: true },
      onEvent: async () => {
        await sleep(10);
        calls.push('async');
      },
    });
    const handle = bus.dispatch('p.async');
    expect(calls).toEqual([]);
    expect(handle.settled).toBe(false);
    const result = await handle.wait();
    expect(calls).toEqual(['async']);
    expect(handle.settled).toBe(true);
    expect(result.errors).toEqual([]);
  });

  it('mixed: sync listeners run inline in order, async ones after, and the handle covers both', async () => {
    const bus = await boot();
    const calls: string[] = [];
    const gate = deferred();
    bus.registerListener(
      { eventName: 'p.mixed', onEvent: () => calls.push('sync1') },
      {
        eventName: 'p.mixed',
        options: { async: true },
        onEvent: async () => {
          calls.push('async-start');
          await gate.promise;
          calls.push('async-end');
        },
      },
      { eventName: 'p.mixed', onEvent: () => calls.push('sync2') },
    );
    const handle = bus.dispatch('p.mixed');
    expect(calls).toEqual(['sync1', 'sync2']);
    await sleep(5);
    expect(calls).toEqual(['sync1', 'sync2', 'async-start']);
    expect(handle.settled).toBe(false);
    gate.resolve();
    await handle;
    expect(calls).toEqual(['sync1', 'sync2', 'async-start', 'async-end']);
  });

  it('per-dispatch errors: a sync failure is on handle.errors as soon as dispatch() returns, and the next listener still runs', async () => {
    const bus = await boot();
    let secondRan = false;
    class Thrower {
      onEvent(): void {
        throw new Error('sync boom');
      }
    }
    bus.registerListener(Object.assign(new Thrower(), { eventName: 'p.err' }), { eventName: 'p.err', onEvent: () => (secondRan = true) });
    const handle = bus.dispatch('p.err');
    expect(secondRan).toBe(true);
    expect(handle.errors).toHaveLength(1);
    const [error] = handle.errors;
    expect(error).toBeInstanceOf(EventError);
    expect(error.eventName).toBe('p.err');
    expect(error.listener).toBe('Thrower');
    expect(error.handleId).toBe(handle.id);
    expect((error.cause as Error).message).toBe('sync boom');
    expect(error.message).toBe("event 'p.err' listener 'Thrower': sync boom");
    expect((await handle).errors).toEqual([error]);
    // Each dispatch has its own errors.
    bus.registerListener({ eventName: 'p.ok', onEvent: () => undefined });
    expect(bus.dispatch('p.ok').errors).toEqual([]);
  });

  it('async listener errors arrive on the handle once it settles', async () => {
    const bus = await boot();
    bus.registerListener({
      eventName: 'p.async-err',
      name: 'Rejecter',
      options: { async: true },
      onEvent: async () => {
        await sleep(2);
        throw new Error('async boom');
      },
    });
    const handle = bus.dispatch('p.async-err');
    expect(handle.errors).toEqual([]);
    const { errors } = await handle;
    expect(errors.map((e) => e.message)).toEqual(["event 'p.async-err' listener 'Rejecter': async boom"]);
    expect(handle.errors).toHaveLength(1);
  });

  it('global errors: getErrors() collects every dispatch, clearErrors() empties it', async () => {
    const bus = await boot();
    bus.registerListener({
      eventName: 'p.global',
      name: 'Failing',
      onEvent: (e) => {
        throw new Error(`fail ${(e as { i: number }).i}`);
      },
    });
    bus.dispatch('p.global', { i: 1 });
    bus.dispatch('p.global', { i: 2 });
    expect(bus.getErrors().map((e) => (e.cause as Error).message)).toEqual(['fail 1', 'fail 2']);
    bus.clearErrors();
    expect(bus.getErrors()).toEqual([]);
    bus.dispatch('p.global', { i: 3 });
    expect(bus.getErrors().map((e) => (e.cause as Error).message)).toEqual(['fail 3']);
  });

  it('global errors are bounded by maxErrors, oldest dropped', async () => {
    const bus = await boot({ maxErrors: 3 });
    bus.registerListener({
      eventName: 'p.bounded',
      onEvent: (e) => {
        throw new Error(`fail ${(e as { i: number }).i}`);
      },
    });
    for (let i = 0; i < 10; i++) bus.dispatch('p.bounded', { i });
    expect(bus.getErrors().map((e) => (e.cause as Error).message)).toEqual(['fail 7', 'fail 8', 'fail 9']);
  });

  it('done settles within a timeout once the listeners finish, and never rejects', async () => {
    const bus = await boot();
    bus.registerListener({
      eventName: 'p.done',
      options: { async: true },
      onEvent: async () => {
        await sleep(5);
        throw new Error('still settles');
      },
    });
    const handle = bus.dispatch('p.done');
    const outcome = await Promise.race([handle.done.then((r) => r), sleep(5_000).then(() => 'timeout' as const)]);
    expect(outcome).not.toBe('timeout');
    expect(typeof outcome === 'string' ? outcome : outcome.errors).toHaveLength(1);
  });

  it('handle.wait({ timeoutMs }) rejects with DispatchTimeoutError while a listener hangs; the handle still settles later', async () => {
    const bus = await boot();
    const gate = deferred();
    bus.registerListener({ eventName: 'p.hang', options: { async: true }, onEvent: () => gate.promise });
    const handle = bus.dispatch('p.hang');
    const error = await handle.wait({ timeoutMs: 20 }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(DispatchTimeoutError);
    expect((error as DispatchTimeoutError).timeoutMs).toBe(20);
    expect((error as Error).message).toMatch(/p\.hang.*20 ms/);
    expect(handle.settled).toBe(false);
    gate.resolve();
    await expect(handle.wait({ timeoutMs: 5_000 })).resolves.toMatchObject({ eventName: 'p.hang', errors: [] });
  });

  it('wait() with a timeout on an already settled handle resolves at once', async () => {
    const bus = await boot();
    const handle = bus.dispatch('p.nobody');
    expect(handle.settled).toBe(true);
    await expect(handle.wait({ timeoutMs: 1 })).resolves.toMatchObject({ errors: [] });
  });

  it('orThrow() rejects with DispatchFailedError carrying the errors, and resolves when nothing failed', async () => {
    const bus = await boot();
    bus.registerListener(
      {
        eventName: 'p.or',
        name: 'A',
        onEvent: () => {
          throw new Error('a failed');
        },
      },
      {
        eventName: 'p.or',
        name: 'B',
        options: { async: true },
        onEvent: () => Promise.reject(new Error('b failed')),
      },
    );
    const failure = await bus
      .dispatch('p.or')
      .orThrow()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(failure).toBeInstanceOf(DispatchFailedError);
    const errors = (failure as DispatchFailedError).errors;
    expect(errors.map((e) => e.listener).sort()).toEqual(['A', 'B']);
    expect(errors.every((e) => e instanceof EventError)).toBe(true);
    bus.registerListener({ eventName: 'p.or-ok', onEvent: () => undefined });
    await expect(bus.dispatch('p.or-ok').orThrow()).resolves.toMatchObject({ errors: [] });
  });

  it('bus.wait() waits for every in-flight listener of every dispatch', async () => {
    const bus = await boot();
    let finished = 0;
    bus.registerListener({
      eventName: 'p.many',
      options: { async: true },
      onEvent: async (e) => {
        await sleep((e as { ms: number }).ms);
        finished++;
      },
    });
    for (const ms of [15, 5, 25, 1]) bus.dispatch('p.many', { ms });
    expect(finished).toBe(0);
    await bus.wait();
    expect(finished).toBe(4);
    // Nothing in flight: resolves at once.
    await bus.wait();
  });

  it('bus.wait({ timeoutMs }) rejects with DispatchTimeoutError while something hangs', async () => {
    const bus = await boot();
    const gate = deferred();
    bus.registerListener({ eventName: 'p.bus-hang', options: { async: true }, onEvent: () => gate.promise });
    bus.dispatch('p.bus-hang');
    await expect(bus.wait({ timeoutMs: 20 })).rejects.toBeInstanceOf(DispatchTimeoutError);
    gate.resolve();
    await bus.wait({ timeoutMs: 5_000 });
  });

  describe('unregister', () => {
    it('basic: after unregisterListenersForEvent a listener is no longer called', async () => {
      const bus = await boot();
      let calls = 0;
      bus.registerListener({ eventName: 'u.basic', onEvent: () => calls++ });
      bus.dispatch('u.basic');
      expect(calls).toBe(1);
      await bus.unregisterListenersForEvent('u.basic');
      const handle = bus.dispatch('u.basic');
      expect(calls).toBe(1);
      expect(handle.settled).toBe(true);
    });

    it('unknown: unregistering a name nobody listens to resolves, and is idempotent', async () => {
      const bus = await boot();
      await expect(bus.unregisterListenersForEvent('u.never')).resolves.toBeUndefined();
      bus.registerListener({ eventName: 'u.twice', onEvent: () => undefined });
      await bus.unregisterListenersForEvent('u.twice');
      await expect(bus.unregisterListenersForEvent('u.twice')).resolves.toBeUndefined();
    });

    it('async: an unregistered async listener is not called and dispatches still settle', async () => {
      const bus = await boot();
      let calls = 0;
      bus.registerListener({ eventName: 'u.async', options: { async: true }, onEvent: async () => void calls++ });
      await bus.dispatch('u.async');
      expect(calls).toBe(1);
      await bus.unregisterListenersForEvent('u.async');
      const handle = bus.dispatch('u.async');
      await expect(handle.wait({ timeoutMs: 2_000 })).resolves.toMatchObject({ errors: [] });
      expect(calls).toBe(1);
    });

    it('several: removes every listener of that name and only of that name', async () => {
      const bus = await boot();
      const calls: string[] = [];
      bus.registerListener(
        { eventName: 'u.several', onEvent: () => calls.push('s1') },
        { eventName: 'u.several', onEvent: () => calls.push('s2') },
        { eventName: 'u.several', options: { async: true }, onEvent: () => void calls.push('a1') },
        { eventName: 'u.other', onEvent: () => calls.push('other') },
      );
      await bus.unregisterListenersForEvent('u.several');
      await bus.dispatch('u.several');
      await bus.dispatch('u.other');
      expect(calls).toEqual(['other']);
    });

    it('re-register: listeners can be registered again after unregistering', async () => {
      const bus = await boot();
      const calls: string[] = [];
      bus.registerListener({ eventName: 'u.again', onEvent: () => calls.push('first') });
      await bus.unregisterListenersForEvent('u.again');
      bus.registerListener({ eventName: 'u.again', onEvent: () => calls.push('second') });
      await bus.dispatch('u.again');
      expect(calls).toEqual(['second']);
    });

    it('accepts a @DomainEvent class as the name', async () => {
      const { DomainEvent } = await import('nestjs-event-bus');
      @DomainEvent('u.by-class')
      class ByClass {}
      const bus = await boot();
      let calls = 0;
      bus.registerListener({ eventName: ByClass, onEvent: () => calls++ });
      await bus.unregisterListenersForEvent(ByClass);
      bus.dispatch(new ByClass());
      expect(calls).toBe(0);
    });
  });

  it('a sync listener that returns a promise holds the next sync listener back until it settles', async () => {
    const bus = await boot();
    const calls: string[] = [];
    const gate = deferred();
    bus.registerListener(
      {
        eventName: 'p.hold',
        onEvent: async () => {
          calls.push('first-start');
          await gate.promise;
          calls.push('first-end');
        },
      },
      { eventName: 'p.hold', onEvent: () => calls.push('second') },
    );
    const handle = bus.dispatch('p.hold');
    expect(calls).toEqual(['first-start']);
    await sleep(10);
    expect(calls).toEqual(['first-start']);
    expect(handle.settled).toBe(false);
    gate.resolve();
    await handle;
    expect(calls).toEqual(['first-start', 'first-end', 'second']);
  });

  it('a rejected promise from a sync listener is recorded and the next sync listener still runs', async () => {
    const bus = await boot();
    const calls: string[] = [];
    bus.registerListener(
      { eventName: 'p.hold-fail', name: 'Failing', onEvent: () => Promise.reject(new Error('nope')) },
      { eventName: 'p.hold-fail', onEvent: () => calls.push('second') },
    );
    const { errors } = await bus.dispatch('p.hold-fail');
    expect(calls).toEqual(['second']);
    expect(errors.map((e) => e.listener)).toEqual(['Failing']);
  });

  it('async listeners never delay dispatch() nor the sync listeners', async () => {
    const bus = await boot();
    const calls: string[] = [];
    const gate = deferred();
    bus.registerListener(
      { eventName: 'p.nodelay', options: { async: true }, onEvent: () => gate.promise.then(() => void calls.push('async')) },
      { eventName: 'p.nodelay', onEvent: () => calls.push('sync-after') },
    );
    const handle = bus.dispatch('p.nodelay');
    expect(calls).toEqual(['sync-after']);
    await sleep(5);
    expect(handle.settled).toBe(false);
    gate.resolve();
    await handle;
    expect(calls).toEqual(['sync-after', 'async']);
  });

  it('async listeners run concurrently, not one after another', async () => {
    const bus = await boot();
    const a = deferred();
    const started: string[] = [];
    bus.registerListener(
      {
        eventName: 'p.concurrent',
        options: { async: true },
        onEvent: async () => {
          started.push('a');
          await a.promise;
        },
      },
      { eventName: 'p.concurrent', options: { async: true }, onEvent: async () => void started.push('b') },
    );
    const handle = bus.dispatch('p.concurrent');
    await sleep(5);
    expect(started).toEqual(['a', 'b']);
    a.resolve();
    await handle;
  });
});
