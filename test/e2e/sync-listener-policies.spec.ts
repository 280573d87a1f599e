import { Injectable } from '@nestjs/common';
import { BreakerOpenError, DomainEvent, EventBus, EventError, ListenerTimeoutError, OnEvent, QueueFullError } from 'nestjs-event-bus';
import { afterEach, describe, expect, it } from 'vitest';
import { bootApp, deferred, sleep, type BootedApp } from '../support/boot-app';

@DomainEvent('gap.order.placed')
class GapOrderPlaced {
  constructor(readonly id: number) {}
}

describe('delivery policies apply to sync listeners as to async ones', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (providers: Array<new (...args: never[]) => unknown> = []): Promise<EventBus> => {
    booted = await bootApp({ providers });
    return booted.bus;
  };
  @Injectable()
  class SyncTimeout {
    readonly order: string[] = [];
    @OnEvent(GapOrderPlaced, { timeoutMs: 20 })
    first(): Promise<void> {
      this.order.push('first');
      return new Promise(() => undefined); // never settles
    }
    @OnEvent(GapOrderPlaced)
    second(): void {
      this.order.push('second');
    }
  }

  it('timeoutMs on a sync listener: a ListenerTimeoutError on the handle, and the next sync listener runs only after it', async () => {
    const bus = await boot([SyncTimeout]);
    const listener = booted!.app.get(SyncTimeout);
    const handle = bus.dispatch(new GapOrderPlaced(1));
    expect(listener.order).toEqual(['first']);
    const result = await handle.wait({ timeoutMs: 5_000 });
    expect(listener.order).toEqual(['first', 'second']);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.listener).toBe('SyncTimeout.first');
    expect(result.errors[0]!.cause).toBeInstanceOf(ListenerTimeoutError);
    expect(bus.stats().timeouts).toBe(1);
  });

  @Injectable()
  class SyncQueue {
    readonly order: string[] = [];
    readonly gate = deferred();
    @OnEvent(GapOrderPlaced, { concurrency: 1, maxQueue: 1, overflow: 'reject' })
    first(event: GapOrderPlaced): Promise<void> {
      this.order.push(`first:${event.id}`);
      return this.gate.promise;
    }
    @OnEvent(GapOrderPlaced)
    second(event: GapOrderPlaced): void {
      this.order.push(`second:${event.id}`);
    }
  }

  it('concurrency + maxQueue on a sync listener: a call waiting for its slot holds the next sync listener back; overflow is a QueueFullError', async () => {
    const bus = await boot([SyncQueue]);
    const listener = booted!.app.get(SyncQueue);
    const errors: EventError[] = [];
    bus.errors$.subscribe((e) => errors.push(e));
    const h1 = bus.dispatch(new GapOrderPlaced(1));
    const h2 = bus.dispatch(new GapOrderPlaced(2));
    const h3 = bus.dispatch(new GapOrderPlaced(3));
    // 1 runs (and holds its chain), 2 waits for the slot (and holds its chain), 3 overflows at once:
    // its failure is on its handle inline, and its chain goes on (a failure does not stop the chain).
    expect(listener.order).toEqual(['first:1', 'second:3']);
    expect(h3.settled).toBe(true);
    const r3 = await h3;
    expect(r3.errors.map((e) => e.cause)).toEqual([expect.any(QueueFullError)]);
    expect(errors.map((e) => e.cause)).toEqual([expect.any(QueueFullError)]);
    expect(h1.settled || h2.settled).toBe(false);
    listener.gate.resolve();
    await Promise.all([h1, h2]);
    // Which of chain 1's next listener and the queued call of event 2 runs first is a scheduling detail.
    expect([...listener.order].sort()).toEqual(['first:1', 'first:2', 'second:1', 'second:2', 'second:3']);
    expect(listener.order.indexOf('second:2')).toBeGreaterThan(listener.order.indexOf('first:2'));
    expect(bus.stats().queueOverflows).toBe(1);
  });

  @Injectable()
  class SyncBreaker {
    calls = 0;
    @OnEvent(GapOrderPlaced, { breaker: { threshold: 2, cooldownMs: 60_000 } })
    failing(): void {
      this.calls++;
      throw new Error('down');
    }
  }

  it('breaker on a sync listener: after threshold failures events fail with BreakerOpenError without a call, reported', async () => {
    const bus = await boot([SyncBreaker]);
    const listener = booted!.app.get(SyncBreaker);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await bus.dispatch(new GapOrderPlaced(i)));
    expect(listener.calls).toBe(2);
    expect(results.map((r) => (r.errors[0]!.cause as Error).constructor)).toEqual([Error, Error, BreakerOpenError, BreakerOpenError]);
    expect(bus.stats()).toMatchObject({ breakerOpens: 1, breakerRejections: 2 });
    expect(bus.getErrors()).toHaveLength(4);
  });
});

describe('defaults keep the unpoliced behaviour (no limit)', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (providers: Array<new (...args: never[]) => unknown> = []): Promise<EventBus> => {
    booted = await bootApp({ providers });
    return booted.bus;
  };
  it('without concurrency, a sync listener still awaiting one dispatch is called for the next at once', async () => {
    // No policy: a sync listener's promise holds back only its own dispatch's chain, not other dispatches.
    const bus = await boot();
    const gate = deferred();
    const running: number[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    bus.registerListener({
      eventName: 'gap.sync-promise',
      onEvent: async (e: { n: number }) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        running.push(e.n);
        await gate.promise;
        concurrent--;
      },
    });
    const a = bus.dispatch('gap.sync-promise', { n: 1 });
    const b = bus.dispatch('gap.sync-promise', { n: 2 });
    expect(running).toEqual([1, 2]);
    await sleep(1);
    gate.resolve();
    await Promise.all([a, b]);
    expect(maxConcurrent).toBe(2);
  });
});
