import type { BusObserver } from '../core/bus-observer';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { DriverUnavailableError } from '../errors/driver-unavailable.error';
import { PUBLISHER } from '../errors/event.error';
import { InvalidEventError } from '../errors/invalid-event.error';
import type { EventBusDriver, PublishTracker } from '../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../interfaces/event-envelope.interface';
import { invalidEventNameReason, quoteEventName } from '../routing/event-name';
import type { EventCodec } from '../serialization/event-codec';
import type { HandleTracking } from './handle-tracking';
import type { RemoteWait, TrackingRegistry } from './tracking-registry';
import type { TrackingTransport } from './tracking-transport';

/** Runs this process's listeners for a tracked dispatch (releasing the unit they hold) and returns the bus's observer. */
export type RunLocal = (handle: DispatchHandle, name: string, event: unknown) => BusObserver | undefined;

/** The publish unit of a tracked dispatch: settles it, and tells the registry how many receivers got it. */
class TrackedOutcome implements PublishTracker {
  private reported = false;

  constructor(
    private readonly handle: DispatchHandle,
    private readonly registry: TrackingRegistry,
    private readonly wait: RemoteWait,
  ) {}

  published(error?: unknown, receivers?: number): void {
    if (this.reported) return;
    this.reported = true;
    if (error !== undefined) this.handle._fail(PUBLISHER, error);
    this.registry.published(this.wait, error, receivers);
    this.handle._release();
  }
}

/**
 * A dispatch with `trackRemote`: the plain publish path plus a place in the registry, the reports
 * channel in the envelope, the reports subscription (first tracked dispatch only) and, where the
 * driver knows them, the receivers named before the event is sent. Off the plain dispatch path.
 */
export class TrackedPublish {
  constructor(
    private readonly driver: EventBusDriver,
    private readonly transport: TrackingTransport,
    private readonly codec: EventCodec,
    private readonly registry: TrackingRegistry,
    private readonly defaultTimeoutMs: number,
    private readonly runLocal: RunLocal,
  ) {}

  publish(handle: DispatchHandle, type: string, event: unknown): void {
    const name = handle.eventName;
    const invalid = invalidEventNameReason(name);
    if (invalid !== undefined) {
      handle._fail(PUBLISHER, new InvalidEventError(`cannot dispatch an event named ${quoteEventName(name)}: ${invalid}`));
      handle._release();
      return;
    }
    const track: HandleTracking = handle._track!;
    let wait: RemoteWait;
    let outgoing: OutgoingEvent;
    try {
      wait = this.registry.begin(handle, track, this.transport.prefix + name, track.timeoutMs ?? this.defaultTimeoutMs);
    } catch (err) {
      // Full: refused before anything runs.
      handle._fail(PUBLISHER, err);
      handle._release();
      return;
    }
    try {
      outgoing = this.codec.encode(name, type, event, handle.id, this.transport.replyTo);
    } catch (err) {
      this.registry.abandon(wait);
      handle._fail(PUBLISHER, err);
      handle._release();
      return;
    }
    handle._pending++;
    const observer = this.runLocal(handle, name, event);
    if (observer !== undefined) observer.published(handle, outgoing);
    void this.send(handle, wait, outgoing);
  }

  private async send(handle: DispatchHandle, wait: RemoteWait, outgoing: OutgoingEvent): Promise<void> {
    try {
      // Reports must have somewhere to arrive before anything can answer.
      await this.registry.ready();
      const expected = this.transport.expectedReporters;
      if (expected !== undefined) this.registry.expectNamed(wait, await expected.call(this.transport, outgoing.name));
    } catch (err) {
      const cause = new DriverUnavailableError(
        `tracking: could not prepare the tracked dispatch (${(err as Error)?.message ?? String(err)}); the event was not sent`,
        err,
      );
      new TrackedOutcome(handle, this.registry, wait).published(cause);
      return;
    }
    const outcome = new TrackedOutcome(handle, this.registry, wait);
    try {
      if (this.driver.publishTracked !== undefined) {
        this.driver.publishTracked(outgoing, outcome);
      } else {
        await this.driver.publish(outgoing);
        outcome.published();
      }
    } catch (err) {
      outcome.published(err ?? new Error('publish failed'));
    }
  }
}
