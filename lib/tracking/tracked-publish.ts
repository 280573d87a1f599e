import type { BusObserver } from '../core/bus-observer';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { DriverUnavailableError } from '../errors/driver-unavailable.error';
import { PUBLISHER } from '../errors/event.error';
import { InvalidEventError } from '../errors/invalid-event.error';
import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../interfaces/event-envelope.interface';
import { invalidEventNameReason, quoteEventName } from '../routing/event-name';
import type { EventCodec } from '../serialization/event-codec';
import type { HandleTracking } from './handle-tracking';
import type { RemoteWait, TrackingRegistry } from './tracking-registry';
import type { TrackingTransport } from './tracking-transport';

/** Runs this process's listeners for a tracked dispatch (releasing the unit they hold). */
export type RunLocal = (handle: DispatchHandle, name: string, event: unknown) => void;

/**
 * A dispatch with `trackRemote`: the plain publish path plus a place in the registry, the reports
 * channel (and the trace context, when traced) in the envelope, the reports subscription (first
 * tracked dispatch only) and, where the driver knows them, the receivers named before the event is
 * sent. Off the plain dispatch path; once the subscription is up and the receivers are known (or
 * counted by the publish reply) it sends in the same tick, without a promise of its own.
 */
export class TrackedPublish {
  /** The last name found dispatchable: tracked dispatches of one event check it once, not per dispatch. */
  private validName: string | undefined = undefined;

  constructor(
    private readonly driver: EventBusDriver,
    private readonly transport: TrackingTransport,
    private readonly codec: EventCodec,
    private readonly registry: TrackingRegistry,
    private readonly defaultTimeoutMs: number,
    private readonly runLocal: RunLocal,
    private readonly observer: () => BusObserver | undefined,
  ) {}

  publish(handle: DispatchHandle, type: string, event: unknown): void {
    const name = handle.eventName;
    if (name !== this.validName) {
      const invalid = invalidEventNameReason(name);
      if (invalid !== undefined) {
        handle._fail(PUBLISHER, new InvalidEventError(`cannot dispatch an event named ${quoteEventName(name)}: ${invalid}`));
        handle._release();
        return;
      }
      this.validName = name;
    }
    const track: HandleTracking = handle._track!;
    let wait: RemoteWait;
    try {
      wait = this.registry.begin(handle, track, this.transport.prefix + name, track.timeoutMs ?? this.defaultTimeoutMs);
    } catch (err) {
      // Full: refused before anything runs.
      handle._fail(PUBLISHER, err);
      handle._release();
      return;
    }
    const observer = this.observer();
    // Traced: the send's scope (and its trace context in the envelope's headers) as on the plain path.
    const scope = observer?.sending !== undefined ? observer.sending(handle) : undefined;
    let outgoing: OutgoingEvent;
    try {
      outgoing = this.codec.encode(name, type, event, handle.id, scope?.headers, this.transport.replyTo);
    } catch (err) {
      scope?.sent(err);
      this.registry.abandon(wait);
      handle._fail(PUBLISHER, err);
      handle._release();
      return;
    }
    handle._pending++;
    this.runLocal(handle, name, event);
    if (observer !== undefined) observer.published(handle, outgoing);
    wait.scope = scope;
    if (this.transport.expectedCount !== undefined) {
      void this.countThenSend(wait, outgoing, this.transport.expectedCount(wait.channel));
      return;
    }
    const expected = this.transport.expectedReporters === undefined ? undefined : this.transport.expectedReporters(name);
    if (this.registry.listening && (expected === undefined || Array.isArray(expected))) {
      if (expected !== undefined) this.registry.expectNamed(wait, expected as readonly string[]);
      this.send(outgoing, wait);
      return;
    }
    void this.prepareThenSend(wait, outgoing, expected);
  }

  /** The first tracked dispatch (the reports subscription), or receivers not known yet (their first read). */
  private async prepareThenSend(
    wait: RemoteWait,
    outgoing: OutgoingEvent,
    expected: readonly string[] | Promise<readonly string[]> | undefined,
  ): Promise<void> {
    try {
      // Reports must have somewhere to arrive before anything can answer.
      await this.registry.ready();
      if (expected !== undefined) this.registry.expectNamed(wait, await expected);
    } catch (err) {
      wait.published(
        new DriverUnavailableError(
          `tracking: could not prepare the tracked dispatch (${(err as Error)?.message ?? String(err)}); the event was not sent`,
          err,
        ),
      );
      return;
    }
    this.send(outgoing, wait);
  }

  /** Classic pub/sub on a cluster: the receivers counted on every node before sending. */
  private async countThenSend(wait: RemoteWait, outgoing: OutgoingEvent, count: Promise<number>): Promise<void> {
    try {
      await this.registry.ready();
      this.registry.expectCount(wait, await count);
    } catch (err) {
      wait.published(
        new DriverUnavailableError(
          `tracking: could not count the receivers of the tracked dispatch (${(err as Error)?.message ?? String(err)}); the event was not sent`,
          err,
        ),
      );
      return;
    }
    this.send(outgoing, wait);
  }

  private send(outgoing: OutgoingEvent, outcome: RemoteWait): void {
    if (this.driver.publishTracked !== undefined) {
      try {
        this.driver.publishTracked(outgoing, outcome);
      } catch (err) {
        outcome.published(err ?? new Error('publishTracked() threw'));
      }
      return;
    }
    let sent: Promise<void>;
    try {
      sent = Promise.resolve(this.driver.publish(outgoing));
    } catch (err) {
      outcome.published(err ?? new Error('publish() threw'));
      return;
    }
    sent.then(
      () => outcome.published(),
      (err: unknown) => outcome.published(err ?? new Error('publish failed')),
    );
  }
}
