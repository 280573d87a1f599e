import {
  EventBus,
  type DeliverFn,
  type DispatchHandle,
  type DriverContext,
  type EventBusDriver,
  type EventError,
  type OutgoingEvent,
} from 'nestjs-event-bus';
import { afterEach, describe, expect, it } from 'vitest';
import { BusRuntime } from '../../lib/core/bus-runtime';
import type { BusObserver, DeliveryOutcome, ObservedDelivery } from '../../lib/core/bus-observer';
import { bootApp, deferred, type BootedApp } from '../support/boot-app';
import { readyStandaloneBus } from '../support/standalone-bus';

/** Writes down every hook call, in order. */
class RecordingObserver implements BusObserver {
  readonly seen: string[] = [];
  readonly outcomes: Array<{ listener: string; outcome: DeliveryOutcome }> = [];
  readonly handles: DispatchHandle[] = [];

  dispatched(handle: DispatchHandle, event: unknown): void {
    this.handles.push(handle);
    this.seen.push(`dispatched ${handle.eventName} ${JSON.stringify(event)}`);
  }
  published(handle: DispatchHandle): void {
    this.seen.push(`published ${handle.eventName}`);
  }
  received(handle: DispatchHandle): void {
    this.seen.push(`received ${handle.eventName}`);
  }
  deliveryStarted(delivery: ObservedDelivery): void {
    this.seen.push(`started ${delivery.listener}`);
  }
  deliveryEnded(delivery: ObservedDelivery, outcome: DeliveryOutcome): void {
    this.outcomes.push({ listener: delivery.listener, outcome });
    this.seen.push(`ended ${delivery.listener} ${outcome.failed ? 'failed' : 'ok'}`);
  }
  error(error: EventError): void {
    this.seen.push(`error ${error.listener}`);
  }
}

describe('bus observers (internal hook points)', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (): Promise<{ bus: EventBus; runtime: BusRuntime }> => {
    booted = await bootApp();
    return { bus: booted.bus, runtime: booted.app.get(BusRuntime) };
  };

  it('see a dispatch, each sync and async delivery start and end with its outcome and duration, and the errors', async () => {
    const { bus, runtime } = await boot();
    const gate = deferred();
    bus.registerListener(
      { eventName: 'obs.one', name: 'SyncOk', onEvent: () => undefined },
      {
        eventName: 'obs.one',
        name: 'SyncThrows',
        onEvent: () => {
          throw new Error('sync boom');
        },
      },
      {
        eventName: 'obs.one',
        name: 'AsyncSlow',
        options: { async: true },
        onEvent: async () => {
          await gate.promise;
        },
      },
      { eventName: 'obs.one', name: 'AsyncRejects', options: { async: true }, onEvent: () => Promise.reject(new Error('async boom')) },
    );
    const observer = new RecordingObserver();
    runtime.addObserver(observer);

    const handle = bus.dispatch('obs.one', { n: 1 });
    // The dispatch and the sync chain are seen inline, before dispatch() returns.
    expect(observer.seen).toEqual([
      'dispatched obs.one {"n":1}',
      'started SyncOk',
      'ended SyncOk ok',
      'started SyncThrows',
      'ended SyncThrows failed',
      'error SyncThrows',
    ]);
    expect(observer.handles[0]).toBe(handle);
    setTimeout(() => gate.resolve(), 15);
    const result = await handle.wait({ timeoutMs: 5_000 });
    expect(result.errors.map((e) => e.listener).sort()).toEqual(['AsyncRejects', 'SyncThrows']);
    expect(observer.seen.slice(6)).toEqual([
      'started AsyncSlow',
      'started AsyncRejects',
      'ended AsyncRejects failed',
      'error AsyncRejects',
      'ended AsyncSlow ok',
    ]);
    const slow = observer.outcomes.find((o) => o.listener === 'AsyncSlow')!.outcome;
    expect(slow.durationMs).toBeGreaterThanOrEqual(10);
    const rejected = observer.outcomes.find((o) => o.listener === 'AsyncRejects')!.outcome;
    expect((rejected.error as Error).message).toBe('async boom');
  });

  it('cost nothing once removed, and a throwing observer never reaches listeners or handles', async () => {
    const { bus, runtime } = await boot();
    bus.registerListener({ eventName: 'obs.two', name: 'Listener', onEvent: () => undefined });
    const observer = new RecordingObserver();
    const stop = runtime.addObserver(observer);
    const thrower = runtime.addObserver({
      ...new RecordingObserver(),
      dispatched: () => {
        throw new Error('observer bug');
      },
      published: () => undefined,
      received: () => undefined,
      deliveryStarted: () => undefined,
      deliveryEnded: () => undefined,
      error: () => undefined,
    });
    const first = await bus.dispatch('obs.two', {});
    expect(first.errors).toEqual([]);
    expect(observer.seen).toEqual(['dispatched obs.two {}', 'started Listener', 'ended Listener ok']);
    stop();
    thrower();
    await bus.dispatch('obs.two', {});
    expect(observer.seen).toHaveLength(3);
  });

  it('see an event leave for the driver and arrive at another bus (broadcast driver)', async () => {
    // Two buses joined by an in-memory wire: what one publishes, the other's subscriptions receive.
    const subscribers = new Map<string, Array<(raw: string) => void>>();
    const wireDriver = (): EventBusDriver => {
      let context: DriverContext | undefined;
      return {
        delivery: 'broadcast',
        init: (ctx) => void (context = ctx),
        publish: (event: OutgoingEvent) => {
          for (const deliver of subscribers.get(event.name) ?? []) deliver(event.payload);
        },
        subscribe: (key: string, deliver: DeliverFn) => {
          const list = subscribers.get(key) ?? [];
          list.push((raw) => void deliver(context!.decode(raw, key)));
          subscribers.set(key, list);
        },
        unsubscribe: () => undefined,
        close: async () => undefined,
      };
    };
    const sender = await readyStandaloneBus({ driver: wireDriver() });
    const receiver = await readyStandaloneBus({ driver: wireDriver() });
    const received: unknown[] = [];
    receiver.bus.registerListener({ eventName: 'obs.wire', name: 'Remote', onEvent: (e) => void received.push(e) });
    await receiver.runtime.subscriptionsSettled(true);
    const out = new RecordingObserver();
    const inn = new RecordingObserver();
    sender.runtime.addObserver(out);
    receiver.runtime.addObserver(inn);
    const handle = sender.bus.dispatch('obs.wire', { n: 7 });
    await handle;
    expect(out.seen).toEqual(['dispatched obs.wire {"n":7}', 'published obs.wire']);
    expect(inn.seen).toEqual(['received obs.wire', 'started Remote', 'ended Remote ok']);
    expect(received).toEqual([{ n: 7 }]);
    await sender.bus.close();
    await receiver.bus.close();
  });
});
