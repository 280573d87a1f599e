import { Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { getDomainEventMetadata } from '../decorators/domain-event.decorator';
import type { DeliveryPipelineSettings } from '../delivery/delivery-pipeline';
import { SharedPipelines } from '../delivery/shared-pipelines';
import { DispatchHandle, type HandleOwner } from '../dispatch/dispatch-handle';
import { HandleIdGenerator } from '../dispatch/handle-id.generator';
import { createDriver } from '../drivers/driver.factory';
import { EventBusClosedError } from '../errors/event-bus-closed.error';
import { EventError, PUBLISHER } from '../errors/event.error';
import { InvalidEventError } from '../errors/invalid-event.error';
import { DEFAULT_MAX_ERRORS, DEFAULT_SHUTDOWN_TIMEOUT_MS } from '../event-bus.constants';
import { MODULE_OPTIONS_TOKEN } from '../event-bus.module-definition';
import type { DriverContext, EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { EventBusModuleOptions } from '../interfaces/event-bus-options.interface';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import { resolveEventBusOptions } from '../options/event-bus-options.validator';
import { validateListenerOptions } from '../options/listener-options.validator';
import type { ResolvedEventBusOptions } from '../options/resolved-options.interface';
import type { ListenerCall, ListenerEntry } from '../routing/listener-entry';
import { INVALID_NAME_ROUTE, ListenerIndex } from '../routing/listener-index';
import { ErrorLogLimiter } from '../logging/error-log-limiter';
import { EventCodec } from '../serialization/event-codec';
import { BusInstrumentation } from '../telemetry/bus-instrumentation';
import { BusLifecycle } from './bus-lifecycle';
import { ObserverSet, type BusObserver } from './bus-observer';
import { BusTelemetry } from './bus-telemetry';
import { InboundDelivery } from './inbound-delivery';
import { InflightTracker } from './inflight-tracker';
import { LocalDispatcher } from './local-dispatcher';
import { OutboundPublisher, refuseName } from './outbound-publisher';
import { SubscriptionManager } from './subscription-manager';
import { HandleTracking } from '../tracking/handle-tracking';
import { trackRemoteProblem, type DispatchOptions } from '../tracking/listener-outcome';
import { TrackingRegistry } from '../tracking/tracking-registry';
import { InvalidOptionsError } from '../errors/invalid-options.error';
import { DEFAULT_MAX_TRACKED_IN_FLIGHT } from '../options/event-bus-options.validator';

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The bus's inside: what `EventBus` (the public facade), the listener explorer, dead letters and
 * later features (tracking, telemetry, the board) work with. A provider of the module, never
 * exported from the package root. It wires the collaborators and owns the lifecycle:
 *
 *   dispatch → LocalDispatcher (memory) | OutboundPublisher (redis drivers) → driver
 *   driver → InboundDelivery → LocalDispatcher | one durable listener
 *   registrations → ListenerIndex + SubscriptionManager → driver subscriptions
 *
 * It is each handle's owner: ids, error recording and in-flight accounting go through it.
 */
@Injectable()
export class BusRuntime implements HandleOwner, OnApplicationShutdown {
  readonly telemetry: BusTelemetry;
  readonly lifecycle = new BusLifecycle();
  readonly inflight = new InflightTracker();
  readonly index = new ListenerIndex();
  readonly busId = randomBytes(8).toString('hex');

  private readonly logger = new Logger('EventBus');
  private readonly ids = new HandleIdGenerator();
  private readonly local = new LocalDispatcher();
  private readonly outbound: OutboundPublisher;
  private readonly inbound: InboundDelivery;
  private readonly subscriptions: SubscriptionManager;
  /** Read when a listener is called: one registered before start learns the driver's delivery later. */
  private readonly pipelineSettings: DeliveryPipelineSettings = { retryInProcess: true };
  private readonly pipelines: SharedPipelines;
  /** Until the driver says otherwise: memory (dispatch runs listeners, nothing is published). */
  private publishes = false;
  private options: ResolvedEventBusOptions | undefined;
  private driver: EventBusDriver | undefined;
  private seq = 0;
  /** Tracked dispatches waiting for remote reports (dispatch `trackRemote`); replaced with the options' bound at start. */
  private tracking = new TrackingRegistry(DEFAULT_MAX_TRACKED_IN_FLIGHT, false, (error) => this.recordError(error));
  private observers: BusObserver[] = [];
  private observer: BusObserver | undefined = undefined;
  /** OpenTelemetry, when `telemetry` asks for it. */
  private instrumentation: BusInstrumentation | undefined;
  /** Completes each open observe() stream when the bus closes. */
  private readonly closeListeners = new Set<() => void>();

  constructor(@Optional() @Inject(MODULE_OPTIONS_TOKEN) private readonly rawOptions: EventBusModuleOptions = {}) {
    // Until start() validates the options; a bad value must fail there, with its name, not here.
    const maxErrors = rawOptions?.maxErrors;
    this.telemetry = new BusTelemetry(Number.isInteger(maxErrors) && maxErrors! > 0 ? maxErrors! : DEFAULT_MAX_ERRORS);
    // Errors are logged from the first one (a bad dispatch in a constructor too), unless turned off.
    if (rawOptions?.logErrors !== false) this.telemetry.log = new ErrorLogLimiter(this.logger);
    this.pipelines = new SharedPipelines(this.telemetry.deliveryHooks, this.pipelineSettings);
    this.outbound = new OutboundPublisher(this.local, this.index);
    this.inbound = new InboundDelivery(this.busId, this, this.lifecycle, this.index, this.local, this.inflight);
    this.subscriptions = new SubscriptionManager(this.index, this.inbound, (error) => this.recordError(error));
  }

  // ---------------------------------------------------------------- dispatch (hot path)

  /**
   * The dispatches that are not `(name, payload)`: a `@DomainEvent` instance (anything else is
   * refused on its handle), with or without options, and `(name, payload, options)`.
   */
  dispatchOther(eventOrName: object | string, payloadOrOptions: unknown, options: DispatchOptions | undefined): DispatchHandle {
    if (typeof eventOrName === 'string') return this.sendWith(eventOrName, eventOrName, payloadOrOptions, options);
    const meta = eventOrName !== null && typeof eventOrName === 'object' ? getDomainEventMetadata(eventOrName.constructor) : undefined;
    if (meta === undefined) return this.refuse(eventOrName);
    if (payloadOrOptions === undefined) return this.send(meta.name, meta.type, eventOrName);
    return this.sendWith(meta.name, meta.type, eventOrName, payloadOrOptions as DispatchOptions);
  }

  send(name: string, type: string, event: unknown): DispatchHandle {
    this.telemetry.counters.dispatched++;
    const handle = new DispatchHandle(name, this);
    // The same steps as run(), written out: one call level less keeps dispatch within V8's inlining budget.
    if (this.lifecycle.state !== 'ready') return this.sendBeforeReadyOrAfterClose(handle, type, event);
    if (this.observer !== undefined) this.observer.dispatched(handle, event);
    this.route(handle, type, event);
    if (handle._pending !== 0) this.track(handle);
    return handle;
  }

  /** A dispatch with options (`trackRemote`); without any that ask for something it is the plain one. */
  sendWith(name: string, type: string, event: unknown, options: DispatchOptions | undefined): DispatchHandle {
    const track = options?.trackRemote;
    if (track === undefined || track === false) return this.send(name, type, event);
    const handle = new DispatchHandle(name, this);
    const problem = trackRemoteProblem(track);
    if (problem !== undefined) {
      handle._fail(PUBLISHER, new InvalidOptionsError('trackRemote', problem));
      handle._release();
      return handle;
    }
    this.telemetry.counters.dispatched++;
    handle._track = new HandleTracking([], typeof track === 'object' ? track.timeoutMs : undefined);
    return this.run(handle, type, event);
  }

  /** A dispatch whose handle is made: run it now, or queue it until the bus is ready. */
  private run(handle: DispatchHandle, type: string, event: unknown): DispatchHandle {
    if (this.lifecycle.state !== 'ready') return this.sendBeforeReadyOrAfterClose(handle, type, event);
    if (this.observer !== undefined) this.observer.dispatched(handle, event);
    this.route(handle, type, event);
    if (handle._pending !== 0) this.track(handle);
    return handle;
  }

  private route(handle: DispatchHandle, type: string, event: unknown): void {
    if (this.publishes) return this.outbound.publish(handle, type, event);
    const route = this.index.route(handle.eventName);
    if (route === INVALID_NAME_ROUTE) return refuseName(handle);
    this.local.run(handle, route, event, undefined);
  }

  private sendBeforeReadyOrAfterClose(handle: DispatchHandle, type: string, event: unknown): DispatchHandle {
    if (this.lifecycle.closed) {
      handle._fail(PUBLISHER, new EventBusClosedError());
      handle._release();
      return handle;
    }
    // Not started yet: keep it until listeners are attached.
    this.track(handle);
    this.lifecycle.queue(handle, type, event);
    return handle;
  }

  private track(handle: DispatchHandle): void {
    handle._tracked = true;
    this.inflight.begin();
  }

  private refuse(value: unknown): DispatchHandle {
    const ctor = value !== null && typeof value === 'object' ? (value as object).constructor?.name : typeof value;
    const handle = new DispatchHandle(String(ctor ?? 'unknown'), this);
    handle._fail(
      PUBLISHER,
      new InvalidEventError(
        `dispatch() needs an instance of a @DomainEvent class or (name, payload); ${ctor} is not a @DomainEvent class ` +
          `(decorate it with @DomainEvent('some.name') or call dispatch('some.name', payload))`,
      ),
    );
    handle._release();
    return handle;
  }

  // ---------------------------------------------------------------- HandleOwner

  nextHandleId(): string {
    return this.ids.next();
  }

  recordError(error: EventError): void {
    this.telemetry.record(error);
  }

  handleSettled(handle: DispatchHandle): void {
    handle._tracked = false;
    this.inflight.end();
  }

  // ---------------------------------------------------------------- listeners

  /** Registers one listener under one key (`EmailNotifier.handle` under `'user.registered'`). */
  addListener(key: string, name: string, call: ListenerCall, options: ListenerOptions): ListenerEntry {
    if (this.lifecycle.closed) throw new EventBusClosedError('the event bus is closed: cannot register listeners');
    validateListenerOptions(options, name);
    const pipeline = this.pipelines.acquire(call, options, name);
    const entry: ListenerEntry = {
      key,
      name,
      async: options.async === true,
      options,
      seq: this.seq++,
      call: pipeline.call,
      plain: pipeline.plain === true,
      active: true,
      close: () => pipeline.close(),
    };
    this.index.add(entry);
    this.subscriptions.added(entry);
    return entry;
  }

  /** Removes one listener (an `observe()` subscription ending). */
  async removeListener(entry: ListenerEntry): Promise<void> {
    if (!entry.active) return;
    this.index.remove(entry);
    // Once closed, the driver is gone with its subscriptions: nothing to tell it.
    if (this.lifecycle.state === 'closed') return;
    await this.subscriptions.removed(entry.key, [entry]);
  }

  /** Removes every listener registered under `key`. Idempotent, safe during dispatch. */
  async removeKey(key: string): Promise<void> {
    const removed = this.index.removeKey(key);
    if (removed.length === 0 && !this.subscriptions.isSubscribed(key)) return;
    await this.subscriptions.removed(key, removed);
  }

  /** Calls `complete` when the bus closes (open `observe()` streams end with it); returns the undo. */
  onClose(complete: () => void): () => void {
    this.closeListeners.add(complete);
    return () => this.closeListeners.delete(complete);
  }

  // ---------------------------------------------------------------- observers

  /** Starts telling `observer` what the bus does (see `BusObserver`); returns the function that stops it. */
  addObserver(observer: BusObserver): () => void {
    this.observers = [...this.observers, observer];
    this.applyObservers();
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
      this.applyObservers();
    };
  }

  /** The trace `handle` belongs to, when tracing observes the bus. */
  traceIdOf(handle: DispatchHandle): string | undefined {
    return this.observer?.traceIdOf?.(handle);
  }

  private applyObservers(): void {
    const set =
      this.observers.length === 0
        ? undefined
        : new ObserverSet(this.observers, (err) => this.logger.error(`a bus observer threw: ${(err as Error)?.message ?? String(err)}`));
    this.observer = set;
    this.local.observer = set;
    this.outbound.observer = set;
    this.inbound.observer = set;
    this.telemetry.observer = set;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Validates the options and connects the driver. Idempotent. */
  start(): Promise<void> {
    return (this.lifecycle.starting ??= this.doStart());
  }

  /** Listeners are attached: run what was dispatched before. */
  markReady(): void {
    if (this.lifecycle.state !== 'starting') return;
    this.lifecycle.state = 'ready';
    for (const { handle, type, event, resume } of this.lifecycle.takeQueued()) {
      resume(() => {
        // Seen by observers now, in the context it was dispatched in (a span then is its parent).
        if (this.observer !== undefined) this.observer.dispatched(handle, event);
        this.route(handle, type, event);
      });
    }
  }

  /**
   * Resolves when every driver subscription asked for so far is confirmed; `final` is app.init()'s
   * last check, after which a failed subscription is only reported.
   */
  async subscriptionsSettled(final = false): Promise<void> {
    const failure = await this.subscriptions.settled(final);
    if (failure !== undefined) {
      // app.init() fails and Nest will not call the shutdown hooks: release what the driver opened now.
      await this.close().catch(() => undefined);
      throw failure;
    }
  }

  /** The driver in use, once started (for services built on it, such as dead letters). */
  getDriver(): EventBusDriver | undefined {
    return this.driver;
  }

  /** The validated options, once started (health checks read the driver name and timeouts). */
  getOptions(): ResolvedEventBusOptions | undefined {
    return this.options;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  close(): Promise<void> {
    return (this.lifecycle.closing ??= this.doClose());
  }

  private async doStart(): Promise<void> {
    // A closed bus does not connect again: nothing would close that driver.
    if (this.lifecycle.closing !== undefined) throw new EventBusClosedError('the event bus is closed: it cannot be started again');
    const options = resolveEventBusOptions(this.rawOptions);
    this.options = options;
    // Keep what was recorded before start (e.g. a bad dispatch from a constructor), within the new bound.
    this.telemetry.resize(options.maxErrors);
    this.tracking = new TrackingRegistry(
      options.tracking.maxInFlight,
      options.tracking.reportStacks,
      (error) => this.recordError(error),
      () => this.observer,
    );
    if (!options.logErrors) this.telemetry.log = undefined;
    // Before anything connects: a missing optional peer fails start-up with nothing to release.
    const instrumentation = await BusInstrumentation.load(options);
    const driver = await createDriver(options);
    const delivery = driver.delivery ?? 'broadcast';
    const traits = SubscriptionManager.traitsOf(delivery);
    this.pipelineSettings.retryInProcess = traits.retriesInProcess;
    const codec = new EventCodec({
      maxEventSize: driver.maxEventSize ?? options.redis.maxEventSize,
      strictTypes: options.strictTypes,
      maxDepth: options.redis.maxEventDepth,
      origin: this.busId,
    });
    const context: DriverContext = {
      busId: this.busId,
      decode: (raw, channel, expectedName) => codec.decode(raw, channel, expectedName),
      reportError: (error) => this.recordError(error),
      log: (level, message) => this.logger[level](message),
      reportRetry: (listener, attempt, error, delayMs, eventName) => this.telemetry.retrying(listener, attempt, error, delayMs, eventName),
      reportDeadLetter: (eventName, listener) => this.telemetry.deadLettered(eventName, listener),
      tracking: this.tracking,
    };
    await driver.init?.(context);
    this.driver = driver;
    // close() came while the driver connected: it closes this driver once start is over; attach nothing, stay closed.
    if (this.lifecycle.state !== 'created') return;
    this.lifecycle.state = 'starting';
    this.tracking.attach(driver.tracking);
    if (instrumentation !== undefined) {
      instrumentation.attach(
        {
          addObserver: (o) => this.addObserver(o),
          retries$: this.telemetry.retries$,
          listenerKeys: () => this.index.entries().map((e) => e.key),
        },
        driver,
        options,
      );
      this.instrumentation = instrumentation;
    }
    this.outbound.attach(driver, codec, traits.runsListenersOnDispatch, this.tracking, options.redis.publishTimeoutMs);
    this.publishes = traits.publishes;
    // Listeners registered before the driver existed subscribe now.
    this.subscriptions.attach(driver, delivery);
  }

  private async doClose(): Promise<void> {
    this.lifecycle.state = 'closing';
    // Dispatches that never got to run are failed, not lost.
    for (const { handle } of this.lifecycle.takeQueued()) {
      handle._fail(PUBLISHER, new EventBusClosedError('the event bus closed before it was ready: event not dispatched'));
      handle._release();
    }
    // A dispatch counts as in flight only once its sync listeners returned (off the hot path): when a
    // listener itself called close(), let that dispatch finish routing so the drain below sees it.
    await RESOLVED;
    const timeoutMs = this.options?.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
    if (!(await this.inflight.drain(timeoutMs))) {
      this.logger.warn(
        `shutdown: ${this.inflight.count} dispatch(es) still running after shutdownTimeoutMs (${timeoutMs} ms); closing anyway`,
      );
    }
    await Promise.all(this.index.entries().map((entry) => entry.close().catch(() => undefined)));
    // Tracked dispatches still waiting will hear nothing more once the driver closes.
    await this.tracking.close().catch(() => undefined);
    try {
      // A start still connecting the driver is waited for, so the driver it opens is closed too.
      await this.lifecycle.starting?.catch(() => undefined);
      await this.subscriptions.idle();
      await this.driver?.close();
    } catch (err) {
      this.logger.error(`closing the driver failed: ${(err as Error)?.message ?? String(err)}`);
    }
    this.lifecycle.state = 'closed';
    this.instrumentation?.detach();
    this.telemetry.complete();
    // observe() streams end with the bus, like errors$ (lastValueFrom(bus.observe(...)) resolves).
    for (const complete of [...this.closeListeners]) complete();
  }
}
