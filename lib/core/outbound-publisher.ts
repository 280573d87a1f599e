import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { PublishOutcome } from '../dispatch/publish-outcome';
import { PUBLISHER } from '../errors/event.error';
import { InvalidEventError } from '../errors/invalid-event.error';
import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../interfaces/event-envelope.interface';
import { invalidEventNameReason, quoteEventName } from '../routing/event-name';
import type { ListenerIndex } from '../routing/listener-index';
import type { EventCodec } from '../serialization/event-codec';
import type { BusObserver, OutgoingScope } from './bus-observer';
import type { LocalDispatcher } from './local-dispatcher';
import type { TrackingRegistry } from '../tracking/tracking-registry';
import { TrackedPublish } from '../tracking/tracked-publish';

/**
 * Sends a dispatch to the driver: refuses names that are no channel, encodes (an event that cannot
 * be sent runs nowhere), runs this process's listeners when the driver delivers to other processes
 * only, hands the encoded event to the driver and settles the handle's publish unit on its outcome.
 */
export class OutboundPublisher {
  /** Set by the runtime when something observes the bus. */
  observer: BusObserver | undefined = undefined;
  private driver: EventBusDriver | undefined;
  private codec: EventCodec | undefined;
  private runsLocalListeners = false;
  private tracked: TrackedPublish | undefined;
  /** The last name found dispatchable: a loop over one event name checks it once, not per dispatch. */
  private validName = '';

  constructor(
    private readonly local: LocalDispatcher,
    private readonly index: ListenerIndex,
  ) {}

  /** The driver is connected; `runsLocalListeners`: this bus runs its own listeners on dispatch too. */
  attach(
    driver: EventBusDriver,
    codec: EventCodec,
    runsLocalListeners: boolean,
    tracking: TrackingRegistry,
    defaultTimeoutMs: number,
  ): void {
    this.driver = driver;
    this.codec = codec;
    this.runsLocalListeners = runsLocalListeners;
    if (driver.tracking !== undefined) {
      this.tracked = new TrackedPublish(
        driver,
        driver.tracking,
        codec,
        tracking,
        defaultTimeoutMs,
        (handle, name, event) => {
          if (this.runsLocalListeners) this.local.run(handle, this.index.route(name), event, undefined);
          else handle._release();
        },
        () => this.observer,
      );
    }
  }

  publish(handle: DispatchHandle, type: string, event: unknown): void {
    // A tracked dispatch (trackRemote) on a driver that carries reports; otherwise the plain path.
    if (handle._track !== undefined && this.tracked !== undefined) return this.tracked.publish(handle, type, event);
    // A name that is no channel or stream (empty, a pattern, whitespace…) must not reach the wire.
    const name = handle.eventName;
    if (name !== this.validName) {
      if (invalidEventNameReason(name) !== undefined) return refuseName(handle);
      this.validName = name;
    }
    const observer = this.observer;
    if (observer !== undefined && observer.sending !== undefined) return this.publishScoped(observer, handle, type, event);
    // Encode first: an event that cannot be sent must not run anywhere.
    let outgoing: OutgoingEvent;
    try {
      outgoing = this.codec!.encode(name, type, event, handle.id);
    } catch (err) {
      handle._fail(PUBLISHER, err);
      handle._release();
      return;
    }
    handle._pending++;
    if (this.runsLocalListeners) this.local.run(handle, this.index.route(name), event, undefined);
    else handle._release();
    if (observer !== undefined) observer.published(handle, outgoing);
    this.send(handle, outgoing, undefined);
  }

  /** The same with a scope around the send (tracing): its headers travel in the envelope. */
  private publishScoped(observer: BusObserver, handle: DispatchHandle, type: string, event: unknown): void {
    const name = handle.eventName;
    const scope = observer.sending!(handle);
    let outgoing: OutgoingEvent;
    try {
      outgoing = this.codec!.encode(name, type, event, handle.id, scope?.headers);
    } catch (err) {
      scope?.sent(err);
      handle._fail(PUBLISHER, err);
      handle._release();
      return;
    }
    handle._pending++;
    if (this.runsLocalListeners) this.local.run(handle, this.index.route(name), event, undefined);
    else handle._release();
    observer.published(handle, outgoing);
    this.send(handle, outgoing, scope);
  }

  // Closures live here, off the checks above (a function that creates one allocates its context on every call).
  private send(handle: DispatchHandle, outgoing: OutgoingEvent, scope: OutgoingScope | undefined): void {
    const driver = this.driver!;
    if (driver.publishTracked !== undefined) {
      const outcome = scope === undefined ? new PublishOutcome(handle) : new ScopedPublishOutcome(handle, scope);
      try {
        driver.publishTracked(outgoing, outcome);
      } catch (err) {
        outcome.published(err ?? new Error('publishTracked() threw'));
      }
      return;
    }
    let sent;
    try {
      sent = driver.publish(outgoing);
    } catch (err) {
      scope?.sent(err ?? new Error('publish() threw'));
      handle._fail(PUBLISHER, err);
      handle._release();
      return;
    }
    if (sent !== undefined && sent !== null && typeof (sent as PromiseLike<void>).then === 'function') {
      // Promise.resolve() adopts a foreign thenable once (a second report or a throwing then() cannot
      // drive the handle's count negative or escape dispatch()); a native promise passes through as itself.
      Promise.resolve(sent).then(
        () => {
          scope?.sent();
          handle._release();
        },
        (err: unknown) => {
          scope?.sent(err ?? new Error('publish() rejected'));
          handle._fail(PUBLISHER, err);
          handle._release();
        },
      );
    } else {
      scope?.sent();
      handle._release();
    }
  }
}

/** A publish outcome that also closes the send's scope (once, like the outcome itself). */
class ScopedPublishOutcome extends PublishOutcome {
  private scopeOpen = true;

  constructor(
    handle: DispatchHandle,
    private readonly scope: OutgoingScope,
  ) {
    super(handle);
  }

  override published(error?: unknown): void {
    if (this.scopeOpen) {
      this.scopeOpen = false;
      this.scope.sent(error);
    }
    super.published(error);
  }
}

/** Fails a dispatch whose name may not be dispatched, saying why; no listener runs anywhere. */
export function refuseName(handle: DispatchHandle): void {
  const name = handle.eventName;
  handle._fail(
    PUBLISHER,
    new InvalidEventError(`cannot dispatch an event named ${quoteEventName(name)}: ${invalidEventNameReason(name) ?? 'invalid name'}`),
  );
  handle._release();
}
