import { describe, expect, it } from 'vitest';
import type { EventBus } from 'nestjs-event-bus';
import { SlowInitDriver } from '../support/slow-init-driver';
import { readyStandaloneBus, tick } from '../support/standalone-bus';

describe('listeners returning objects whose then getter throws', () => {
  function hostileThenable(): object {
    return Object.defineProperty({}, 'then', {
      get() {
        throw new Error('then getter exploded');
      },
    });
  }

  it('a sync listener: dispatch() does not throw, the error is on the handle, the next listener runs', async () => {
    const { bus } = await readyStandaloneBus();
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
    const { bus } = await readyStandaloneBus();
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

describe('a driver publish() returning a foreign thenable', () => {
  async function readyBus(driver: SlowInitDriver): Promise<EventBus> {
    driver.initGate.resolve();
    return (await readyStandaloneBus({ driver })).bus;
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
