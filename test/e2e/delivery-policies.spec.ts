import { Injectable, Module, type INestApplication, type Type } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  BreakerOpenError,
  DomainEvent,
  EventBus,
  EventBusClosedError,
  EventBusModule,
  EventError,
  InvalidOptionsError,
  ListenerTimeoutError,
  OnEvent,
  QueueFullError,
  type DeliverFn,
  type DispatchHandle,
  type DriverListener,
  type EventBusDriver,
  type EventBusModuleOptions,
} from 'nestjs-event-bus';
import { afterEach, describe, expect, it, vi } from 'vitest';

/**
 * Delivery policies on a real Nest application with the memory driver: each policy
 * declared in @OnEvent, docker/go-events' own test cases carried over, and its known defects.
 */

let apps: INestApplication[] = [];

async function boot(providers: Type[], options: EventBusModuleOptions = {}): Promise<{ app: INestApplication; bus: EventBus }> {
  @Module({ imports: [EventBusModule.forRoot(options)], providers })
  class AppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  apps.push(app);
  return { app, bus: app.get(EventBus) };
}

afterEach(async () => {
  vi.useRealTimers();
  for (const app of apps.splice(0)) await app.close();
});

/** Deterministic "random" for flaky sinks (mulberry32). */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

const causes = (result: { errors: readonly EventError[] }): unknown[] => result.errors.map((e) => e.cause);

// ------------------------------------------------------------------ go-events' own cases

/** go-events' flakySink: fails at `rate`, else passes the event to the test sink. */
class FlakySink {
  rate = 1.0;
  readonly received: string[] = [];
  calls = 0;
  private readonly random = seeded(42);
  write(event: { id: string }): void {
    this.calls++;
    if (this.random() < this.rate) throw new Error(`flaky sink failed ${event.id}`);
    this.received.push(event.id);
  }
}

@DomainEvent('sink.write')
class SinkWrite {
  constructor(readonly id: string) {}
}

@Injectable()
class RetryWithBreakerSink extends FlakySink {
  @OnEvent(SinkWrite, {
    async: true,
    retry: { attempts: 100_000, backoff: { baseMs: 0, factor: 2, maxMs: 0 } },
    breaker: { threshold: 3, cooldownMs: 10, whenOpen: 'hold' },
  })
  handle(event: SinkWrite): void {
    this.write(event);
  }
}

@Injectable()
class RetryWithBackoffSink extends FlakySink {
  @OnEvent(SinkWrite, { async: true, retry: { attempts: 100_000, backoff: { baseMs: 2, factor: 2, maxMs: 5, jitter: true } } })
  handle(event: SinkWrite): void {
    this.write(event);
  }
}

/** go-events testRetryingSink: 100 events, failing 100% of the time, then 90% from the 51st on; all get through. */
async function retryingSinkCase(
  sinkClass: typeof RetryWithBreakerSink | typeof RetryWithBackoffSink,
): Promise<{ sink: FlakySink; bus: EventBus }> {
  const { app, bus } = await boot([sinkClass]);
  const sink = app.get(sinkClass);
  vi.useFakeTimers({ loopLimit: 1_000_000 });
  const handles: DispatchHandle[] = [];
  for (let i = 1; i <= 50; i++) handles.push(bus.dispatch(new SinkWrite(`myevent-${i}`)));
  await vi.advanceTimersByTimeAsync(100);
  expect(sink.received).toEqual([]);
  expect(sink.calls).toBeGreaterThan(0);
  sink.rate = 0.9;
  for (let i = 51; i <= 100; i++) handles.push(bus.dispatch(new SinkWrite(`myevent-${i}`)));
  while (!handles.every((h) => h.settled)) await vi.runAllTimersAsync();
  vi.useRealTimers();
  expect(handles.flatMap((h) => h.errors)).toEqual([]);
  expect([...sink.received].sort()).toEqual(Array.from({ length: 100 }, (_, i) => `myevent-${i + 1}`).sort());
  return { sink, bus };
}

describe('go-events cases', () => {
  it('RetryingSink + Breaker: a sink failing 100% then 90% of the time gets every event exactly once', async () => {
    const { sink, bus } = await retryingSinkCase(RetryWithBreakerSink);
    const stats = bus.stats();
    expect(stats.breakerOpens).toBeGreaterThan(0);
    expect(stats.retries).toBe(sink.calls - 100);
    expect(stats.listenerErrors).toBe(0);
    expect(stats.breakerRejections).toBe(0);
  });

  it('RetryingSink + ExponentialBackoff: the same sink gets every event exactly once', async () => {
    const { sink, bus } = await retryingSinkCase(RetryWithBackoffSink);
    expect(bus.stats().retries).toBe(sink.calls - 100);
    expect(bus.stats().listenerErrors).toBe(0);
  });

  @DomainEvent('queue.item')
  class QueueItem {
    constructor(readonly n: number) {}
  }

  @Injectable()
  class SlowQueueSink {
    readonly seen: number[] = [];
    active = 0;
    peak = 0;
    @OnEvent(QueueItem, { async: true, concurrency: 1, maxQueue: 1_000 })
    async handle(event: QueueItem): Promise<void> {
      this.peak = Math.max(this.peak, ++this.active);
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      this.seen.push(event.n);
      this.active--;
    }
  }

  it('Queue: 1000 events through a queue to a slow listener are all delivered, in order, one at a time', async () => {
    const { app, bus } = await boot([SlowQueueSink]);
    const handles = Array.from({ length: 1_000 }, (_, i) => bus.dispatch(new QueueItem(i)));
    await bus.wait();
    const sink = app.get(SlowQueueSink);
    expect(sink.seen).toEqual(Array.from({ length: 1_000 }, (_, i) => i));
    expect(sink.peak).toBe(1);
    expect(handles.flatMap((h) => h.errors)).toEqual([]);
    expect(bus.stats().queueOverflows).toBe(0);
  });

  @Injectable()
  class WideQueueSink {
    active = 0;
    peak = 0;
    count = 0;
    @OnEvent(QueueItem, { concurrency: 4 })
    async handle(): Promise<void> {
      this.peak = Math.max(this.peak, ++this.active);
      await new Promise((r) => setTimeout(r, 1));
      this.count++;
      this.active--;
    }
  }

  it('Queue with concurrency 4: never more than 4 calls at once, every event delivered', async () => {
    const { app, bus } = await boot([WideQueueSink]);
    // Sync listeners are held per dispatch, not across dispatches: 40 dispatches compete for 4 slots.
    const handles = Array.from({ length: 40 }, (_, i) => bus.dispatch(new QueueItem(i)));
    await Promise.all(handles);
    const sink = app.get(WideQueueSink);
    expect(sink.count).toBe(40);
    expect(sink.peak).toBe(4);
  });

  @Injectable()
  class EvenFilter {
    readonly seen: number[] = [];
    @OnEvent(QueueItem, { filter: (e: QueueItem) => e.n % 2 === 0 })
    handle(event: QueueItem): void {
      this.seen.push(event.n);
    }
  }

  it('Filter: passes 50 of 100; the rest are counted, never errors', async () => {
    const { app, bus } = await boot([EvenFilter]);
    const handles = Array.from({ length: 100 }, (_, i) => bus.dispatch(new QueueItem(i)));
    const sink = app.get(EvenFilter);
    expect(sink.seen).toHaveLength(50);
    expect(sink.seen.every((n) => n % 2 === 0)).toBe(true);
    expect(handles.flatMap((h) => h.errors)).toEqual([]);
    expect(bus.stats().filtered).toBe(50);
    expect(bus.getErrors()).toEqual([]);
  });

  @DomainEvent('backoff.probe')
  class BackoffProbe {
    constructor(readonly failTimes: number) {}
  }

  @Injectable()
  class ManyFailures {
    private failed = new Map<BackoffProbe, number>();
    @OnEvent(BackoffProbe, { async: true, retry: { attempts: 10_001, backoff: { baseMs: 1, factor: 2, maxMs: 40 } } })
    handle(event: BackoffProbe): void {
      const n = this.failed.get(event) ?? 0;
      if (n < event.failTimes) {
        this.failed.set(event, n + 1);
        throw new Error(`failure ${n + 1}`);
      }
    }
  }

  it('ExponentialBackoff: bounded (never overflowing, never negative) over 10 000 failures, reset after success', async () => {
    const { bus } = await boot([ManyFailures]);
    const delays: number[] = [];
    bus.retries$.subscribe((r) => delays.push(r.delayMs));
    vi.useFakeTimers({ loopLimit: 1_000_000 });
    const first = bus.dispatch(new BackoffProbe(10_000));
    while (!first.settled) await vi.runAllTimersAsync();
    expect(first.errors).toEqual([]);
    expect(delays).toHaveLength(10_000);
    expect(delays.slice(0, 8)).toEqual([1, 2, 4, 8, 16, 32, 40, 40]);
    expect(delays.every((d) => Number.isFinite(d) && d >= 0 && d <= 40)).toBe(true);
    expect(delays[9_999]).toBe(40);
    // The success reset it: the next failing event starts at baseMs again.
    const second = bus.dispatch(new BackoffProbe(2));
    while (!second.settled) await vi.runAllTimersAsync();
    expect(delays.slice(10_000)).toEqual([1, 2]);
  });
});

// ------------------------------------------------------------------ each semantic

@DomainEvent('order.placed')
class OrderPlaced {
  constructor(readonly id: number) {}
}

describe('retry', () => {
  @Injectable()
  class AlwaysFails {
    calls = 0;
    @OnEvent(OrderPlaced, { async: true, retry: { attempts: 3, backoff: { baseMs: 1, maxMs: 2 } } })
    async handle(): Promise<void> {
      throw new Error(`attempt ${++this.calls} failed`);
    }
  }

  it('only the final failure is an error on the handle; earlier attempts are on retries$ and stats().retries', async () => {
    const { app, bus } = await boot([AlwaysFails]);
    const retries: Array<{ listener: string; attempt: number }> = [];
    const errors: EventError[] = [];
    bus.retries$.subscribe((r) => retries.push({ listener: r.listener, attempt: r.attempt }));
    bus.errors$.subscribe((e) => errors.push(e));
    const result = await bus.dispatch(new OrderPlaced(1));
    expect(app.get(AlwaysFails).calls).toBe(3);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toBeInstanceOf(EventError);
    expect(result.errors[0]!.listener).toBe('AlwaysFails.handle');
    expect((result.errors[0]!.cause as Error).message).toBe('attempt 3 failed');
    expect(errors).toEqual(result.errors);
    expect(retries).toEqual([
      { listener: 'AlwaysFails.handle', attempt: 1 },
      { listener: 'AlwaysFails.handle', attempt: 2 },
    ]);
    expect(bus.stats()).toMatchObject({ retries: 2, listenerErrors: 1 });
  });

  @Injectable()
  class FailsTwice {
    calls = 0;
    @OnEvent(OrderPlaced, { retry: { attempts: 5, backoff: { baseMs: 1, maxMs: 1 } } })
    handle(): void {
      if (++this.calls <= 2) throw new Error('not yet');
    }
  }

  it('a call that succeeds on a later attempt leaves no error, and the handle settles only then', async () => {
    const { app, bus } = await boot([FailsTwice]);
    const handle = bus.dispatch(new OrderPlaced(1));
    expect(handle.settled).toBe(false);
    expect(app.get(FailsTwice).calls).toBe(1);
    const result = await handle;
    expect(app.get(FailsTwice).calls).toBe(3);
    expect(result.errors).toEqual([]);
    expect(bus.stats().listenerErrors).toBe(0);
  });

  @Injectable()
  class SyncChain {
    readonly order: string[] = [];
    private failedOnce = false;
    @OnEvent(OrderPlaced, { retry: { attempts: 2, backoff: { baseMs: 5, maxMs: 5 } } })
    first(): void {
      this.order.push('first');
      if (!this.failedOnce) {
        this.failedOnce = true;
        throw new Error('first attempt fails');
      }
    }
    @OnEvent(OrderPlaced)
    second(): void {
      this.order.push('second');
    }
  }

  it('a sync listener waiting to retry holds the next sync listener back', async () => {
    const { app, bus } = await boot([SyncChain]);
    const chain = app.get(SyncChain);
    const handle = bus.dispatch(new OrderPlaced(1));
    expect(chain.order).toEqual(['first']);
    const result = await handle;
    expect(chain.order).toEqual(['first', 'first', 'second']);
    expect(result.errors).toEqual([]);
  });

  @Injectable()
  class SyncNoWait {
    readonly order: string[] = [];
    @OnEvent(OrderPlaced, { retry: { attempts: 3 }, breaker: { threshold: 3, cooldownMs: 100 }, concurrency: 2, timeoutMs: 100 })
    first(): void {
      this.order.push('first');
    }
    @OnEvent(OrderPlaced)
    second(): void {
      this.order.push('second');
    }
  }

  it('a sync listener with policies that needs no wait still runs inline in dispatch()', async () => {
    const { app, bus } = await boot([SyncNoWait]);
    const handle = bus.dispatch(new OrderPlaced(1));
    expect(app.get(SyncNoWait).order).toEqual(['first', 'second']);
    expect(handle.settled).toBe(true);
  });
});

describe('breaker', () => {
  @Injectable()
  class FailFastBreaker {
    healthy = false;
    calls = 0;
    @OnEvent(OrderPlaced, { async: true, breaker: { threshold: 2, cooldownMs: 1_000 } })
    async handle(): Promise<void> {
      this.calls++;
      if (!this.healthy) throw new Error('downstream down');
    }
  }

  it("whenOpen 'fail': after threshold failures events fail with BreakerOpenError without a call; one success after the cooldown closes it", async () => {
    const { app, bus } = await boot([FailFastBreaker]);
    const listener = app.get(FailFastBreaker);
    vi.useFakeTimers();
    await bus.dispatch(new OrderPlaced(1));
    await bus.dispatch(new OrderPlaced(2));
    const refused = await bus.dispatch(new OrderPlaced(3));
    expect(listener.calls).toBe(2);
    expect(refused.errors).toHaveLength(1);
    expect(refused.errors[0]!.cause).toBeInstanceOf(BreakerOpenError);
    expect(refused.errors[0]!.message).toMatch(/listener 'FailFastBreaker\.handle': breaker open after 2 consecutive failures/);
    expect(bus.stats()).toMatchObject({ breakerOpens: 1, breakerRejections: 1, listenerErrors: 3 });
    await vi.advanceTimersByTimeAsync(1_000);
    listener.healthy = true;
    expect((await bus.dispatch(new OrderPlaced(4))).errors).toEqual([]);
    expect((await bus.dispatch(new OrderPlaced(5))).errors).toEqual([]);
    expect(listener.calls).toBe(4);
  });

  @Injectable()
  class HoldingBreaker {
    healthy = false;
    readonly delivered: number[] = [];
    @OnEvent(OrderPlaced, { async: true, breaker: { threshold: 1, cooldownMs: 500, whenOpen: 'hold' } })
    async handle(event: OrderPlaced): Promise<void> {
      if (!this.healthy) throw new Error('downstream down');
      this.delivered.push(event.id);
    }
  }

  it("whenOpen 'hold': events arriving while it is open wait for the cooldown and are delivered then, never dropped", async () => {
    const { app, bus } = await boot([HoldingBreaker]);
    const listener = app.get(HoldingBreaker);
    vi.useFakeTimers();
    const failed = await bus.dispatch(new OrderPlaced(1));
    expect(failed.errors).toHaveLength(1);
    const held = [bus.dispatch(new OrderPlaced(2)), bus.dispatch(new OrderPlaced(3))];
    await vi.advanceTimersByTimeAsync(499);
    expect(held.some((h) => h.settled)).toBe(false);
    listener.healthy = true;
    await vi.advanceTimersByTimeAsync(1);
    const results = await Promise.all(held);
    expect(results.flatMap((r) => r.errors)).toEqual([]);
    expect(listener.delivered.sort()).toEqual([2, 3]);
    expect(bus.stats().breakerRejections).toBe(0);
  });
});

describe('concurrency and maxQueue', () => {
  const gate = { current: deferred() };

  @Injectable()
  class RejectingQueue {
    readonly started: number[] = [];
    @OnEvent(OrderPlaced, { async: true, concurrency: 1, maxQueue: 1, overflow: 'reject' })
    async handle(event: OrderPlaced): Promise<void> {
      this.started.push(event.id);
      await gate.current.promise;
    }
  }

  it("overflow 'reject' fails the new event's handle with QueueFullError, reported on errors$ and counted", async () => {
    gate.current = deferred();
    const { app, bus } = await boot([RejectingQueue]);
    const errors: EventError[] = [];
    bus.errors$.subscribe((e) => errors.push(e));
    const [a, b, c] = [1, 2, 3].map((id) => bus.dispatch(new OrderPlaced(id)));
    const rejected = await c!;
    expect(rejected.errors).toHaveLength(1);
    const cause = rejected.errors[0]!.cause as QueueFullError;
    expect(cause).toBeInstanceOf(QueueFullError);
    expect(cause.overflow).toBe('reject');
    expect(errors).toEqual(rejected.errors);
    expect(bus.stats().queueOverflows).toBe(1);
    gate.current.resolve();
    expect((await a!).errors).toEqual([]);
    expect((await b!).errors).toEqual([]);
    expect(app.get(RejectingQueue).started).toEqual([1, 2]);
  });

  @Injectable()
  class DropOldestQueue {
    readonly started: number[] = [];
    @OnEvent(OrderPlaced, { async: true, concurrency: 1, maxQueue: 2, overflow: 'drop-oldest' })
    async handle(event: OrderPlaced): Promise<void> {
      this.started.push(event.id);
      await gate.current.promise;
    }
  }

  it("overflow 'drop-oldest' fails the oldest queued event's own handle with QueueFullError", async () => {
    gate.current = deferred();
    const { app, bus } = await boot([DropOldestQueue]);
    const handles = [1, 2, 3, 4].map((id) => bus.dispatch(new OrderPlaced(id)));
    const dropped = await handles[1]!;
    expect(causes(dropped)).toHaveLength(1);
    expect((causes(dropped)[0] as QueueFullError).overflow).toBe('drop-oldest');
    gate.current.resolve();
    const rest = await Promise.all([handles[0]!, handles[2]!, handles[3]!]);
    expect(rest.flatMap((r) => r.errors)).toEqual([]);
    expect(app.get(DropOldestQueue).started).toEqual([1, 3, 4]);
    expect(bus.stats()).toMatchObject({ queueOverflows: 1, listenerErrors: 1 });
    expect(bus.getErrors().map((e) => e.cause)).toEqual(causes(dropped));
  });
});

describe('one listener, several events', () => {
  @DomainEvent('order.cancelled')
  class OrderCancelled {
    constructor(readonly id: number) {}
  }

  @Injectable()
  class OneSlotForBoth {
    active = 0;
    peak = 0;
    readonly seen: string[] = [];
    @OnEvent([OrderPlaced, OrderCancelled], { async: true, concurrency: 1 })
    async handle(event: OrderPlaced | OrderCancelled): Promise<void> {
      this.peak = Math.max(this.peak, ++this.active);
      await new Promise((r) => setTimeout(r, 1));
      this.seen.push(`${event.constructor.name}:${event.id}`);
      this.active--;
    }
  }

  it('@OnEvent([a, b], { concurrency: 1 }) is one listener with one queue; unregistering a keeps b working', async () => {
    const { app, bus } = await boot([OneSlotForBoth]);
    const listener = app.get(OneSlotForBoth);
    await Promise.all([1, 2, 3].flatMap((id) => [bus.dispatch(new OrderPlaced(id)), bus.dispatch(new OrderCancelled(id))]));
    expect(listener.peak).toBe(1);
    expect(listener.seen).toHaveLength(6);
    await bus.unregisterListenersForEvent(OrderPlaced);
    const result = await bus.dispatch(new OrderCancelled(9));
    expect(result.errors).toEqual([]);
    expect(listener.seen.at(-1)).toBe('OrderCancelled:9');
  });
});

describe('timeoutMs', () => {
  @Injectable()
  class SlowListener {
    @OnEvent(OrderPlaced, { async: true, timeoutMs: 20 })
    handle(): Promise<void> {
      return new Promise(() => undefined);
    }
  }

  it('a call not settled in time is a ListenerTimeoutError on the handle', async () => {
    const { bus } = await boot([SlowListener]);
    const result = await bus.dispatch(new OrderPlaced(1));
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.cause).toBeInstanceOf(ListenerTimeoutError);
    expect(result.errors[0]!.message).toMatch(/did not settle within 20 ms/);
    expect(bus.stats().timeouts).toBe(1);
  });

  @Injectable()
  class TimesOutThenWorks {
    calls = 0;
    @OnEvent(OrderPlaced, { async: true, timeoutMs: 20, retry: { attempts: 2, backoff: { baseMs: 1, maxMs: 1 } } })
    handle(): Promise<void> | void {
      if (++this.calls === 1) return new Promise(() => undefined);
    }
  }

  it('a timed-out attempt is retried like a failure', async () => {
    const { app, bus } = await boot([TimesOutThenWorks]);
    const result = await bus.dispatch(new OrderPlaced(1));
    expect(result.errors).toEqual([]);
    expect(app.get(TimesOutThenWorks).calls).toBe(2);
    expect(bus.stats()).toMatchObject({ timeouts: 1, retries: 1 });
  });
});

describe('shutdown (go-events: queue close can hang, retrying sink close leaks its sink)', () => {
  @Injectable()
  class DrainableQueue {
    readonly done: number[] = [];
    active = 0;
    peak = 0;
    @OnEvent(OrderPlaced, { async: true, concurrency: 1 })
    async handle(event: OrderPlaced): Promise<void> {
      this.peak = Math.max(this.peak, ++this.active);
      await new Promise((r) => setTimeout(r, 2));
      this.done.push(event.id);
      this.active--;
    }
  }

  it('app.close() drains queued events within shutdownTimeoutMs', async () => {
    const { app, bus } = await boot([DrainableQueue]);
    const handles = [1, 2, 3, 4, 5].map((id) => bus.dispatch(new OrderPlaced(id)));
    apps = apps.filter((a) => a !== app);
    await app.close();
    expect(app.get(DrainableQueue).done).toEqual([1, 2, 3, 4, 5]);
    expect(app.get(DrainableQueue).peak).toBe(1);
    expect(bus.stats().abandonedOnClose).toBe(0);
    expect(handles.every((h) => h.settled && h.errors.length === 0)).toBe(true);
  });

  @Injectable()
  class StuckQueue {
    calls = 0;
    @OnEvent(OrderPlaced, { async: true, concurrency: 1, timeoutMs: 600_000 })
    handle(): Promise<void> {
      this.calls++;
      return new Promise(() => undefined);
    }
  }

  it('past shutdownTimeoutMs, queued and stuck events fail with EventBusClosedError and close() resolves', async () => {
    const { app, bus } = await boot([StuckQueue], { shutdownTimeoutMs: 50 });
    const handles = [1, 2, 3].map((id) => bus.dispatch(new OrderPlaced(id)));
    apps = apps.filter((a) => a !== app);
    await app.close();
    const results = await Promise.all(handles);
    expect(results.map((r) => r.errors.map((e) => e.cause instanceof EventBusClosedError))).toEqual([[true], [true], [true]]);
    expect(app.get(StuckQueue).calls).toBe(1);
    expect(bus.stats().abandonedOnClose).toBe(3);
  });

  @Injectable()
  class RetryingForever {
    calls = 0;
    @OnEvent(OrderPlaced, { async: true, retry: { attempts: 1_000, backoff: { baseMs: 200, maxMs: 200 } } })
    handle(): void {
      this.calls++;
      throw new Error('down');
    }
  }

  it('closing stops a retrying listener: its pending retry fails the event and the listener is never called again', async () => {
    const { app, bus } = await boot([RetryingForever], { shutdownTimeoutMs: 20 });
    const handle = bus.dispatch(new OrderPlaced(1));
    await new Promise((r) => setTimeout(r, 5));
    apps = apps.filter((a) => a !== app);
    await app.close();
    const result = await handle;
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]!.cause).toBeInstanceOf(EventBusClosedError);
    expect(result.errors[0]!.message).toMatch(/while waiting to retry after attempt 1 of 1000 failed: down/);
    await new Promise((r) => setTimeout(r, 400));
    expect(app.get(RetryingForever).calls).toBe(1);
  });
});

describe('durable drivers (retry is redelivery)', () => {
  /** The documented extension point: a durable driver that hands each delivery to the test. */
  class RecordingDurableDriver implements EventBusDriver {
    readonly delivery = 'durable' as const;
    readonly subscriptions: Array<{ key: string; deliver: DeliverFn; listener?: DriverListener }> = [];
    publish(): void {}
    subscribe(key: string, deliver: DeliverFn, listener?: DriverListener): void {
      this.subscriptions.push({ key, deliver, listener });
    }
    unsubscribe(): void {}
    async close(): Promise<void> {}
  }

  @Injectable()
  class DurableListener {
    calls = 0;
    @OnEvent(OrderPlaced, { retry: { attempts: 4, backoff: { baseMs: 1, maxMs: 1 } }, breaker: { threshold: 2, cooldownMs: 60_000 } })
    handle(): void {
      this.calls++;
      throw new Error('down');
    }
  }

  it('skips in-process retry (the driver redelivers, with retry options it can read) but applies the other policies', async () => {
    const driver = new RecordingDurableDriver();
    const { app } = await boot([DurableListener], { driver });
    const [sub] = driver.subscriptions;
    expect(sub!.listener).toMatchObject({ name: 'DurableListener.handle', options: { retry: { attempts: 4 } } });
    const deliver = (attempt: number) =>
      sub!.deliver(
        { name: 'order.placed', type: 'order.placed', handleId: '0123456789abcdef', event: new OrderPlaced(1) },
        { id: '1-0', attempt },
      );
    await expect(deliver(1)).rejects.toThrow('down');
    expect(app.get(DurableListener).calls).toBe(1);
    await expect(deliver(2)).rejects.toThrow('down');
    // Breaker open after 2 failures: the third delivery is refused without a call.
    await expect(deliver(3)).rejects.toBeInstanceOf(BreakerOpenError);
    expect(app.get(DurableListener).calls).toBe(2);
  });

  it('a listener registered before app.init() on a durable driver does not retry in process either', async () => {
    const driver = new RecordingDurableDriver();
    @Module({ imports: [EventBusModule.forRoot({ driver })] })
    class DurableApp {}
    const moduleRef = await Test.createTestingModule({ imports: [DurableApp] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    apps.push(app);
    let calls = 0;
    app.get(EventBus).registerListener({
      eventName: OrderPlaced,
      name: 'Early',
      options: { retry: { attempts: 5, backoff: { baseMs: 1 } } },
      onEvent: () => {
        calls++;
        throw new Error('early down');
      },
    });
    await app.init();
    const sub = driver.subscriptions.find((s) => s.listener?.name === 'Early');
    await expect(
      sub!.deliver(
        { name: 'order.placed', type: 'order.placed', handleId: '0123456789abcdef', event: new OrderPlaced(1) },
        { id: '1-0', attempt: 1 },
      ),
    ).rejects.toThrow('early down');
    expect(calls).toBe(1);
    expect(app.get(EventBus).stats().retries).toBe(0);
  });
});

describe('option validation', () => {
  @Injectable()
  class BadRetry {
    @OnEvent(OrderPlaced, { retry: { attempts: 0 } })
    handle(): void {}
  }

  @Injectable()
  class BadOverflow {
    @OnEvent(OrderPlaced, { concurrency: 1, maxQueue: 5, overflow: 'drop-newest' as 'reject' })
    handle(): void {}
  }

  it('invalid policies fail app.init() with a message naming the listener, the option and the allowed values', async () => {
    await expect(boot([BadRetry])).rejects.toThrow(InvalidOptionsError);
    await expect(boot([BadRetry])).rejects.toThrow(
      /listener option 'BadRetry\.handle: retry\.attempts' must be an integer >= 1.*\(got 0\)/,
    );
    await expect(boot([BadOverflow])).rejects.toThrow(
      /'BadOverflow\.handle: overflow' must be 'reject' or 'drop-oldest' \(got 'drop-newest'\)/,
    );
  });
});
