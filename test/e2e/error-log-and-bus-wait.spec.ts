import { describe, expect, it } from 'vitest';
import { deferred } from '../support/boot-app';
import { readyStandaloneBus } from '../support/standalone-bus';

describe('a large maxErrors', () => {
  it('is a bound, not an allocation: a bus with maxErrors 2^32 is built, records, lists and clears errors', async () => {
    // Was `new Array(maxErrors)` up front: RangeError (Invalid array length) from the constructor, before
    // the options were even validated; and clearErrors() filled every slot of a large bound.
    const { bus } = await readyStandaloneBus({ maxErrors: 2 ** 32 });
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

describe('bus.wait({ timeoutMs }) that times out', () => {
  it('leaves nothing behind: a busy bus polled with timed waits does not collect a waiter per call', async () => {
    const { bus, runtime } = await readyStandaloneBus();
    const gate = deferred();
    bus.registerListener({ eventName: 'busy.bus', name: 'held', onEvent: () => gate.promise });
    bus.dispatch('busy.bus', {});
    for (let i = 0; i < 20; i++) await expect(bus.wait({ timeoutMs: 1 })).rejects.toThrow(/did not settle/);
    // Internal, but it is the leak itself: one closure per timed-out call, kept until the bus is idle.
    expect(runtime.inflight.waiting).toBe(0);
    gate.resolve();
    await bus.wait({ timeoutMs: 1000 });
    await bus.close();
  });
});
