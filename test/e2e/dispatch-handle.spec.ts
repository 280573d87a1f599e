import { Test } from '@nestjs/testing';
import { DispatchHandle, EventBus, EventBusModule, EventError } from 'nestjs-event-bus';
import { afterEach, describe, expect, it } from 'vitest';
import { bootApp, deferred, sleep, type BootedApp } from '../support/boot-app';

describe('dispatch handles', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (providers: Array<new (...args: never[]) => unknown> = []): Promise<EventBus> => {
    booted = await bootApp({ providers });
    return booted.bus;
  };
  it('await handle resolves to exactly { id, eventName, errors, outcomes }, with id the handle id (outcomes are filled by tracked dispatches)', async () => {
    const bus = await boot();
    bus.registerListener({ eventName: 'gap.shape', onEvent: () => undefined });
    const handle = bus.dispatch('gap.shape', { n: 1 });
    expect(handle).toBeInstanceOf(DispatchHandle);
    const result = await handle;
    expect(Object.keys(result).sort()).toEqual(['errors', 'eventName', 'id', 'outcomes']);
    expect(result).toEqual({ id: handle.id, eventName: 'gap.shape', errors: [], outcomes: [] });
    expect(handle.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('wait() and done resolve (never reject) when listeners failed; the errors are on the result', async () => {
    const bus = await boot();
    bus.registerListener(
      { eventName: 'gap.fail', onEvent: () => Promise.reject(new Error('sync-boom')) },
      { eventName: 'gap.fail', options: { async: true }, onEvent: () => Promise.reject(new Error('async-boom')) },
    );
    const handle = bus.dispatch('gap.fail');
    const waited = await handle.wait({ timeoutMs: 5_000 });
    const done = await handle.done;
    expect(waited.errors.map((e) => (e.cause as Error).message).sort()).toEqual(['async-boom', 'sync-boom']);
    expect(done).toEqual(waited);
    expect(handle.errors).toEqual(waited.errors);
    for (const error of handle.errors) expect(error).toBeInstanceOf(EventError);
  });

  it('an async listener starts after dispatch() returns, and then() callbacks never run inside the call that registers them', async () => {
    const bus = await boot();
    const order: string[] = [];
    bus.registerListener({ eventName: 'gap.later', options: { async: true }, onEvent: () => void order.push('listener') });
    const handle = bus.dispatch('gap.later', {});
    order.push('dispatch returned');
    await handle;
    expect(order).toEqual(['dispatch returned', 'listener']);
    // Settled now: a then() callback still runs on a later tick, not inside then().
    expect(handle.settled).toBe(true);
    let called = false;
    const chained = handle.then((result) => {
      called = true;
      return result.eventName;
    });
    expect(called).toBe(false);
    await expect(chained).resolves.toBe('gap.later');
    // And on a handle still running: its callback waits for the listener.
    const gate = deferred();
    bus.registerListener({ eventName: 'gap.held', options: { async: true }, onEvent: () => gate.promise });
    const held = bus.dispatch('gap.held', {});
    let heldDone = false;
    void held.then(() => (heldDone = true));
    await sleep(5);
    expect(heldDone).toBe(false);
    gate.resolve();
    await expect(held).resolves.toEqual({ id: held.id, eventName: 'gap.held', errors: [], outcomes: [] });
  });

  it('then() on a running handle: callbacks in registration order, each derived promise settles with its own callback (a throw rejects only that one)', async () => {
    const bus = await boot();
    const gate = deferred();
    bus.registerListener({ eventName: 'gap.waiters', options: { async: true }, onEvent: () => gate.promise });
    const handle = bus.dispatch('gap.waiters', {});
    const order: string[] = [];
    const first = handle.then(() => {
      order.push('first');
      return 1;
    });
    const failing = handle.then(() => {
      order.push('failing');
      throw new Error('callback-boom');
    });
    const identity = handle.then();
    const viaDone = handle.done.then(() => order.push('done'));
    const adopted = handle.then(() => Promise.resolve('adopted'));
    gate.resolve();
    await expect(first).resolves.toBe(1);
    await expect(failing).rejects.toThrow('callback-boom');
    await expect(identity).resolves.toEqual({ id: handle.id, eventName: 'gap.waiters', errors: [], outcomes: [] });
    await expect(adopted).resolves.toBe('adopted');
    await viaDone;
    expect(order).toEqual(['first', 'failing', 'done']);
    // The handle itself still never rejects.
    await expect(handle.orThrow()).resolves.toMatchObject({ eventName: 'gap.waiters' });
  });

  it('a running handle wakes its waiters in the promise job its last async listener settles in, with no job of its own in between', async () => {
    const bus = await boot();
    const gate = deferred();
    bus.registerListener({
      eventName: 'gap.same-job',
      options: { async: true },
      onEvent: async () => {
        await gate.promise;
      },
    });
    const handle = bus.dispatch('gap.same-job', {});
    const order: string[] = [];
    void handle.then(() => order.push('handle'));
    await sleep(5);
    // The listener resumes in one job and its promise settles; the handle's waiter runs in the next
    // job, between the two links of a chain started alongside.
    gate.resolve();
    await Promise.resolve()
      .then(() => order.push('marker 1'))
      .then(() => order.push('marker 2'));
    await handle;
    expect(order).toEqual(['marker 1', 'handle', 'marker 2']);
  });

  it('await handle.done resumes in the promise job right after the one its async listener ran in', async () => {
    const bus = await boot();
    const order: string[] = [];
    bus.registerListener({ eventName: 'gap.done-jobs', options: { async: true }, onEvent: () => void order.push('listener') });
    const handle = bus.dispatch('gap.done-jobs', {});
    const done = handle.done;
    // A chain started after dispatch(): its first link runs after the listener's job.
    const chain = Promise.resolve()
      .then(() => order.push('tick 1'))
      .then(() => order.push('tick 2'))
      .then(() => order.push('tick 3'));
    await done;
    order.push('resumed');
    await chain;
    // The listener's job settles `done` itself (no job of the handle's own), so the await resumes
    // one job later: the README's hot-loop recipe relies on it.
    expect(order).toEqual(['listener', 'tick 1', 'resumed', 'tick 2', 'tick 3']);
  });

  it('a then() callback of a handle that close() settles runs after close() returned, not inside it', async () => {
    // Not initialised: the bus is not ready, so the dispatch is queued and close() fails it synchronously.
    const moduleRef = await Test.createTestingModule({ imports: [EventBusModule.forRoot()] }).compile();
    const bus = moduleRef.get(EventBus);
    const handle = bus.dispatch('gap.queued', {});
    let called = false;
    const chained = handle.then((result) => {
      called = true;
      return result.errors.length;
    });
    const closing = bus.close();
    expect(called).toBe(false);
    await expect(chained).resolves.toBe(1);
    await closing;
  });
});
