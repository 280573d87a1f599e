import { afterEach, describe, expect, it } from 'vitest';
import { DriverUnavailableError, type EventBus } from 'nestjs-event-bus';
import type { DeliverFn, DriverContext, EventBusDriver, OutgoingEvent, PublishTracker } from 'nestjs-event-bus';
import { bootApp, type BootedApp } from '../support/boot-app';

/** A broadcast driver with the promise-free publish path: it keeps the trackers and reports when told. */
class TrackedDriver implements EventBusDriver {
  readonly delivery = 'broadcast' as const;
  readonly trackers: Array<{ event: OutgoingEvent; tracker: PublishTracker }> = [];
  promisePublishes = 0;
  throwAfterReport = false;

  init(_context: DriverContext): void {}
  publish(): Promise<void> {
    this.promisePublishes++;
    return Promise.resolve();
  }
  publishTracked(event: OutgoingEvent, tracker: PublishTracker): void {
    this.trackers.push({ event, tracker });
    if (this.throwAfterReport) {
      tracker.published();
      throw new Error('driver bug after reporting');
    }
  }
  subscribe(_key: string, _deliver: DeliverFn): void {}
  unsubscribe(): void {}
  async close(): Promise<void> {}
}

describe('a driver with publishTracked() (no promise per publish)', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });

  async function boot(driver: TrackedDriver): Promise<EventBus> {
    booted = await bootApp({}, { driver });
    return booted.bus;
  }

  it('is used instead of publish(); the handle settles when the driver reports the event sent', async () => {
    const driver = new TrackedDriver();
    const bus = await boot(driver);
    const seen: unknown[] = [];
    bus.registerListener({ eventName: 'trk.sent', onEvent: (e) => void seen.push(e) });
    const handle = bus.dispatch('trk.sent', { n: 1 });
    // Local listeners ran inline; the publish is still out.
    expect(seen).toEqual([{ n: 1 }]);
    expect(driver.promisePublishes).toBe(0);
    expect(driver.trackers).toHaveLength(1);
    expect(JSON.parse(driver.trackers[0].event.payload)).toMatchObject({ event_name: 'trk.sent', handle_id: handle.id });
    expect(handle.settled).toBe(false);
    let idle = false;
    void bus.wait().then(() => (idle = true));
    await new Promise((r) => setImmediate(r));
    expect(idle).toBe(false);
    driver.trackers[0].tracker.published();
    expect(handle.settled).toBe(true);
    expect((await handle).errors).toEqual([]);
    await bus.wait();
  });

  it('a reported failure is a publisher EventError on the handle and on errors$', async () => {
    const driver = new TrackedDriver();
    const bus = await boot(driver);
    const fromStream: unknown[] = [];
    bus.errors$.subscribe((e) => fromStream.push(e));
    const handle = bus.dispatch('trk.failed', { n: 2 });
    const cause = new DriverUnavailableError('redis is down');
    driver.trackers[0].tracker.published(cause);
    const { errors } = await handle;
    expect(errors).toHaveLength(1);
    expect(errors[0].listener).toBe('publisher');
    expect(errors[0].cause).toBe(cause);
    expect(errors[0].handleId).toBe(handle.id);
    expect(fromStream).toEqual(errors);
    await expect(handle.orThrow()).rejects.toThrow(/redis is down/);
  });

  it('a driver that reports twice, or reports and then throws, settles the handle once (no negative count)', async () => {
    const driver = new TrackedDriver();
    const bus = await boot(driver);
    const twice = bus.dispatch('trk.twice', {});
    driver.trackers[0].tracker.published();
    driver.trackers[0].tracker.published(new Error('late'));
    expect((await twice).errors).toEqual([]);

    driver.throwAfterReport = true;
    const thrown = bus.dispatch('trk.thrown', {});
    expect(thrown.settled).toBe(true);
    expect((await thrown).errors).toEqual([]);
    // The in-flight count is back to zero: wait() resolves at once.
    await bus.wait({ timeoutMs: 100 });
  });
});
