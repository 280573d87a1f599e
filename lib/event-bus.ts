import { Inject, Injectable, Logger, OnApplicationShutdown, Optional } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Observable, Subject } from 'rxjs';
import { getDomainEventMetadata } from './decorators/domain-event.decorator';
import type { DeliveryHooks, DeliveryPipelineSettings } from './delivery/delivery-pipeline';
import { SharedPipelines } from './delivery/shared-pipelines';
import { DispatchHandle, type HandleOwner, type WaitOptions } from './dispatch/dispatch-handle';
import { ErrorLog } from './dispatch/error-log';
import { HandleIdGenerator } from './dispatch/handle-id.generator';
import { PublishOutcome } from './dispatch/publish-outcome';
import { createDriver } from './drivers/driver.factory';
import { DispatchTimeoutError } from './errors/dispatch-timeout.error';
import { EventBusClosedError } from './errors/event-bus-closed.error';
import { EventError, PUBLISHER, SUBSCRIBER } from './errors/event.error';
import { InvalidEventError } from './errors/invalid-event.error';
import { MODULE_OPTIONS_TOKEN } from './event-bus.module-definition';
import type { DeliverFn, DeliveryMeta, DriverContext, DriverDelivery, EventBusDriver } from './interfaces/event-bus-driver.interface';
import type { IncomingEvent } from './interfaces/event-envelope.interface';
import type { EventBusModuleOptions } from './interfaces/event-bus-options.interface';
import type { EventClass } from './interfaces/event-class.interface';
import type { ListenerOptions } from './interfaces/listener-options.interface';
import { resolveEventBusOptions, validateListenerOptions } from './options/event-bus-options.validator';
import type { ResolvedEventBusOptions } from './options/resolved-options.interface';
import { assertEventKey } from './routing/event-pattern';
import type { ListenerCall, ListenerEntry } from './routing/listener-entry';
import { ListenerIndex } from './routing/listener-index';
import { EventCodec } from './serialization/event-codec';

const RESOLVED: Promise<void> = Promise.resolve();

/** An event name, a `@DomainEvent` class, or a list of them. */
export type EventKey = string | EventClass | ReadonlyArray<string | EventClass>;

/** A listener registered in code (goevent's RegisterListener). */
export interface ProgrammaticListener<T = unknown> {
  eventName: EventKey;
  onEvent(event: T, meta?: DeliveryMeta): unknown;
  options?: ListenerOptions;
  /** Shown as `EventError.listener`; defaults to the object's class name, `'anonymous'` for a literal. */
  name?: string;
}

/** Counts since start (every drop is counted, never silent). */
export interface EventBusStats {
  dispatched: number;
  listenerErrors: number;
  publishErrors: number;
  rejectedMessages: number;
  retries: number;
  /** Listener calls failed by their `timeoutMs` (each attempt counts). */
  timeouts: number;
  /** Events failed with `QueueFullError` (`overflow: 'reject'` or `'drop-oldest'`). */
  queueOverflows: number;
  /** Events failed with `BreakerOpenError` (`whenOpen: 'fail'`). */
  breakerRejections: number;
  /** Times a listener's breaker opened. */
  breakerOpens: number;
  /** Events a listener's `filter` kept from it (not errors). */
  filtered: number;
  /** Events failed with `EventBusClosedError` because their listener closed while they waited (queue, retry, breaker). */
  abandonedOnClose: number;
}

type BusState = 'created' | 'starting' | 'ready' | 'closing' | 'closed';

interface QueuedDispatch {
  readonly handle: DispatchHandle;
  readonly type: string;
  readonly event: unknown;
}

/**
 * The bus: dispatches events to listeners through the configured driver, tracks each dispatch
 * on its handle, and keeps the errors. One per application.
 */
@Injectable()
export class EventBus implements HandleOwner, OnApplicationShutdown {
  /** Every error of every dispatch, as it happens. */
  readonly errors$: Observable<EventError>;
  /** Failed attempts that will be retried (not errors on the handle until the last one fails). */
  readonly retries$: Observable<{ listener: string; attempt: number; error: unknown; delayMs: number }>;

  private readonly logger = new Logger('EventBus');
  private readonly errorSubject = new Subject<EventError>();
  private readonly retrySubject = new Subject<{ listener: string; attempt: number; error: unknown; delayMs: number }>();
  private readonly index = new ListenerIndex();
  private readonly ids = new HandleIdGenerator();
  private readonly busId = randomBytes(8).toString('hex');
  private readonly counters: EventBusStats = {
    dispatched: 0,
    listenerErrors: 0,
    publishErrors: 0,
    rejectedMessages: 0,
    retries: 0,
    timeouts: 0,
    queueOverflows: 0,
    breakerRejections: 0,
    breakerOpens: 0,
    filtered: 0,
    abandonedOnClose: 0,
  };
  private readonly deliveryHooks: DeliveryHooks;
  /** Read when a listener is called: one registered before start learns the driver's delivery later. */
  private readonly pipelineSettings: DeliveryPipelineSettings = {
    retryInProcess: true,
  };
  private readonly pipelines: SharedPipelines;
  private options: ResolvedEventBusOptions | undefined;
  private errorLog: ErrorLog;
  private state: BusState = 'created';
  private driver: EventBusDriver | undefined;
  private delivery: DriverDelivery = 'local';
  private codec: EventCodec | undefined;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  private queuedBeforeReady: QueuedDispatch[] = [];
  private inflight = 0;
  private idleWaiters: Array<() => void> = [];
  private asyncQueue: Array<DispatchHandle | ListenerEntry | unknown> = [];
  private asyncScheduled = false;
  private seq = 0;
  /** Driver subscription work, serialised so a subscribe and an unsubscribe of one key never race. */
  private driverOps: Promise<void> = Promise.resolve();
  private readonly subscribedKeys = new Set<string>();
  private startupFailure: unknown;
  /** Completes each open observe() stream when the bus closes. */
  private readonly observers = new Set<() => void>();
  /** app.init() is past its last subscription check: a failure from now on is reported, not fatal. */
  private startedUp = false;
  private readonly flushAsync = (): void => this.runAsyncQueue();

  constructor(@Optional() @Inject(MODULE_OPTIONS_TOKEN) private readonly rawOptions: EventBusModuleOptions = {}) {
    this.errors$ = this.errorSubject.asObservable();
    this.retries$ = this.retrySubject.asObservable();
    // Until start() validates the options; a bad value must fail there, with its name, not here.
    this.errorLog = new ErrorLog(Number.isInteger(rawOptions?.maxErrors) && rawOptions.maxErrors! > 0 ? rawOptions.maxErrors! : 1000);
    this.deliveryHooks = {
      retrying: (listener, attempt, error, delayMs) => {
        this.counters.retries++;
        this.retrySubject.next({ listener, attempt, error, delayMs });
      },
      count: (counter) => {
        this.counters[counter]++;
      },
    };
    this.pipelines = new SharedPipelines(this.deliveryHooks, this.pipelineSettings);
  }

  // ---------------------------------------------------------------- dispatch

  /** Dispatches a `@DomainEvent` instance. */
  dispatch(event: object): DispatchHandle;
  /** Dispatches an untyped event: listeners of `name` receive `payload`. */
  dispatch(name: string, payload?: unknown): DispatchHandle;
  dispatch(eventOrName: object | string, payload?: unknown): DispatchHandle {
    // Hot path: kept small (rare branches live in helpers) so V8 inlines the routing into it.
    if (typeof eventOrName !== 'string') return this.dispatchInstance(eventOrName);
    return this.send(eventOrName, eventOrName, payload);
  }

  private dispatchInstance(event: object): DispatchHandle {
    const meta = event !== null && typeof event === 'object' ? getDomainEventMetadata(event.constructor) : undefined;
    if (meta === undefined) return this.refuse(event);
    return this.send(meta.name, meta.type, event);
  }

  private send(name: string, type: string, event: unknown): DispatchHandle {
    this.counters.dispatched++;
    const handle = new DispatchHandle(name, this);
    if (this.state !== 'ready') return this.sendBeforeReadyOrAfterClose(handle, type, event);
    this.route(handle, type, event);
    if (!handle.settled) this.track(handle);
    return handle;
  }

  private sendBeforeReadyOrAfterClose(handle: DispatchHandle, type: string, event: unknown): DispatchHandle {
    if (this.state === 'closing' || this.state === 'closed') {
      this.publishFailed(handle, new EventBusClosedError());
      handle._release();
      return handle;
    }
    // Not started yet: keep it until listeners are attached.
    this.track(handle);
    this.queuedBeforeReady.push({ handle, type, event });
    return handle;
  }

  /** Resolves when every in-flight listener of every dispatch has settled (goevent's Wait). */
  wait(options: WaitOptions = {}): Promise<void> {
    if (this.inflight === 0) return Promise.resolve();
    const { timeoutMs } = options;
    if (timeoutMs === undefined) return new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    return new Promise<void>((resolve, reject) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        // Forget the waiter: a bus that stays busy would otherwise keep one per timed-out call.
        const at = this.idleWaiters.indexOf(waiter);
        if (at >= 0) this.idleWaiters.splice(at, 1);
        reject(new DispatchTimeoutError(timeoutMs, 'bus.wait()'));
      }, timeoutMs);
      timer.unref?.();
      this.idleWaiters.push(waiter);
    });
  }

  // ---------------------------------------------------------------- errors and observation

  /** The latest errors, oldest first, at most `maxErrors` (goevent's GetErrors). */
  getErrors(): EventError[] {
    return this.errorLog.list();
  }

  clearErrors(): void {
    this.errorLog.clear();
  }

  stats(): Readonly<EventBusStats> {
    return { ...this.counters };
  }

  /** Events of a class or name/pattern as they are delivered here (saga-style). */
  observe<T>(target: EventClass<T>): Observable<T>;
  observe<T = unknown>(target: string): Observable<T>;
  observe<T>(target: EventClass<T> | string): Observable<T> {
    const key = this.keyOf(target, 'observe()');
    return new Observable<T>((subscriber) => {
      // Like errors$, a closed bus has no more events: complete rather than error (rxjs would throw an
      // unhandled error at a subscriber without an error callback).
      if (this.state === 'closing' || this.state === 'closed') {
        subscriber.complete();
        return undefined;
      }
      const entry = this.addListener(key, `observe(${key})`, (event) => subscriber.next(event as T), {});
      const complete = (): void => subscriber.complete();
      this.observers.add(complete);
      return () => {
        this.observers.delete(complete);
        void this.removeEntry(entry);
      };
    });
  }

  // ---------------------------------------------------------------- programmatic listeners

  registerListener(...listeners: ProgrammaticListener[]): void {
    for (const listener of listeners) {
      if (listener === null || typeof listener !== 'object' || typeof listener.onEvent !== 'function') {
        throw new TypeError('registerListener() takes objects like { eventName, onEvent(event) {...} }');
      }
      const ctorName = Object.getPrototypeOf(listener)?.constructor?.name;
      const name = listener.name ?? (ctorName && ctorName !== 'Object' ? ctorName : 'anonymous');
      const call: ListenerCall = (event, meta) => listener.onEvent(event, meta);
      for (const key of this.eventKeys(listener.eventName, 'registerListener()')) {
        this.addListener(key, name, call, listener.options ?? {});
      }
    }
  }

  /** Removes every listener of `eventName` (a name, class or pattern). Idempotent, safe during dispatch. */
  async unregisterListenersForEvent(eventName: string | EventClass): Promise<void> {
    const key = this.keyOf(eventName, 'unregisterListenersForEvent()');
    const removed = this.index.removeKey(key);
    if (removed.length === 0 && !this.subscribedKeys.has(key)) return;
    // Durable drivers subscribe per listener: stop these consumers before a listener registered again (same name) subscribes,
    // and before the policies close: a delivery already running finishes and is acknowledged, not failed and run again.
    if (this.delivery === 'durable') {
      for (const entry of removed)
        this.queueDriverOp(async () => this.driver?.unsubscribe(entry.key, { name: entry.name, options: entry.options }));
      await this.driverOps;
    }
    await Promise.all(removed.map((entry) => entry.close()));
    await this.syncSubscription(key);
  }

  // ---------------------------------------------------------------- lifecycle

  /** @internal Validates the options and connects the driver. Idempotent. */
  start(): Promise<void> {
    return (this.starting ??= this.doStart());
  }

  /** @internal Listeners are attached: run what was dispatched before. */
  markReady(): void {
    if (this.state !== 'starting') return;
    this.state = 'ready';
    const queued = this.queuedBeforeReady;
    this.queuedBeforeReady = [];
    for (const { handle, type, event } of queued) {
      this.route(handle, type, event);
    }
  }

  /** @internal Registers a discovered listener (`EmailNotifier.handle`). */
  addListener(key: string, name: string, call: ListenerCall, options: ListenerOptions): ListenerEntry {
    if (this.state === 'closing' || this.state === 'closed')
      throw new EventBusClosedError('the event bus is closed: cannot register listeners');
    validateListenerOptions(options, name);
    const pipeline = this.pipelines.acquire(call, options, name);
    const entry: ListenerEntry = {
      key,
      name,
      async: options.async === true,
      options,
      seq: this.seq++,
      call: pipeline.call,
      active: true,
      close: () => pipeline.close(),
    };
    this.index.add(entry);
    if (this.driver !== undefined && this.delivery !== 'local') {
      if (this.delivery === 'durable') this.queueDriverOp(() => this.subscribeDurable(entry));
      else if (!this.subscribedKeys.has(key)) this.queueDriverOp(() => this.subscribeBroadcast(key));
    }
    return entry;
  }

  /** @internal Removes one listener (an `observe()` subscription ending). */
  async removeEntry(entry: ListenerEntry): Promise<void> {
    if (!entry.active) return;
    this.index.remove(entry);
    // Once closed, the driver is gone with its subscriptions: nothing to tell it.
    if (this.state === 'closed') return;
    if (this.delivery === 'durable') {
      // Durable drivers subscribe per listener: stop only this one's consumer, before a listener of the same
      // name registered again subscribes, and before its policies close (a running delivery finishes).
      this.queueDriverOp(async () => this.driver?.unsubscribe(entry.key, { name: entry.name, options: entry.options }));
      await this.driverOps;
    }
    await entry.close();
    await this.syncSubscription(entry.key);
  }

  /**
   * @internal Resolves when every driver subscription asked for so far is confirmed; `final` is
   * app.init()'s last check, after which a failed subscription is only reported.
   */
  async subscriptionsSettled(final = false): Promise<void> {
    await this.driverOps;
    if (this.startupFailure !== undefined) {
      // app.init() fails and Nest will not call the shutdown hooks: release what the driver opened now.
      await this.close().catch(() => undefined);
      throw this.startupFailure;
    }
    if (final) this.startedUp = true;
  }

  /** @internal The driver in use (for services built on it, such as dead letters). */
  getDriver(): EventBusDriver | undefined {
    return this.driver;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.close();
  }

  /**
   * Stops taking dispatches, waits for in-flight listeners (at most `shutdownTimeoutMs`), then
   * closes the driver and what it opened. Idempotent.
   */
  close(): Promise<void> {
    return (this.closing ??= this.doClose());
  }

  // ---------------------------------------------------------------- HandleOwner

  /** @internal */
  nextHandleId(): string {
    return this.ids.next();
  }

  /** @internal */
  recordError(error: EventError): void {
    if (error.listener === PUBLISHER) this.counters.publishErrors++;
    else if (error.listener === SUBSCRIBER) this.counters.rejectedMessages++;
    else this.counters.listenerErrors++;
    this.errorLog.push(error);
    this.errorSubject.next(error);
  }

  /** @internal */
  handleSettled(handle: DispatchHandle): void {
    handle._tracked = false;
    this.endInflight();
  }

  private endInflight(): void {
    if (--this.inflight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  // ---------------------------------------------------------------- internals: routing

  private route(handle: DispatchHandle, type: string, event: unknown): void {
    if (this.delivery === 'local') this.runLocal(handle, handle.eventName, event, undefined);
    else this.routeOut(handle, type, event);
  }

  // Hot-path note: functions that create closures allocate a context on every call, even on paths
  // that create none, so the closures live in these small helpers, off the fire-and-forget path.

  /** Encodes, runs local listeners (broadcast), publishes through the driver. */
  private routeOut(handle: DispatchHandle, type: string, event: unknown): void {
    // A name that is no channel or stream ('' or a pattern) must not reach the wire.
    const name = handle.eventName;
    if (name.length === 0 || name.includes('*')) {
      this.publishFailed(
        handle,
        new InvalidEventError(
          `cannot send an event named '${name}': event names sent to other processes are non-empty and have no '*' (patterns are for listeners)`,
        ),
      );
      handle._release();
      return;
    }
    // Encode first: an event that cannot be sent must not run anywhere (§6).
    let outgoing;
    try {
      outgoing = this.codec!.encode(handle.eventName, type, event, handle.id);
    } catch (err) {
      this.publishFailed(handle, err);
      handle._release();
      return;
    }
    handle._pending++;
    if (this.delivery === 'broadcast') this.runLocal(handle, handle.eventName, event, undefined);
    else handle._release();
    const driver = this.driver!;
    if (driver.publishTracked !== undefined) {
      const outcome = new PublishOutcome(handle);
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
      this.publishFailed(handle, err);
      handle._release();
      return;
    }
    if (sent !== undefined && sent !== null && typeof (sent as PromiseLike<void>).then === 'function') {
      // Promise.resolve() adopts a foreign thenable once (a second report or a throwing then() cannot
      // drive the handle's count negative or escape dispatch()); a native promise passes through as itself.
      Promise.resolve(sent).then(
        () => handle._release(),
        (err: unknown) => {
          this.publishFailed(handle, err);
          handle._release();
        },
      );
    } else {
      handle._release();
    }
  }

  /** Runs the listeners `name` reaches: sync ones now, in order; async ones on the next microtask. */
  private runLocal(handle: DispatchHandle, name: string, event: unknown, meta: DeliveryMeta | undefined): void {
    this.runRoute(handle, this.index.route(name), event, meta);
  }

  private runRoute(
    handle: DispatchHandle,
    route: { sync: readonly ListenerEntry[]; async: readonly ListenerEntry[] },
    event: unknown,
    meta: DeliveryMeta | undefined,
  ): void {
    if (route.async.length > 0) this.queueAsync(handle, route.async, event, meta);
    this.runSync(handle, route.sync, 0, event, meta);
  }

  /** Async listeners start together on the next microtask, after `dispatch()` has returned. */
  private queueAsync(handle: DispatchHandle, asyncs: readonly ListenerEntry[], event: unknown, meta: DeliveryMeta | undefined): void {
    handle._pending += asyncs.length;
    const queue = this.asyncQueue;
    for (let i = 0; i < asyncs.length; i++) queue.push(handle, asyncs[i], event, meta);
    if (!this.asyncScheduled) {
      this.asyncScheduled = true;
      // A promise job, not queueMicrotask(): Node wraps that one in an AsyncResource per call.
      // runAsyncQueue() catches every listener failure, so this job never rejects.
      void RESOLVED.then(this.flushAsync);
    }
  }

  /** Sync listeners one after another; a returned promise holds the next one back until it settles. */
  private runSync(
    handle: DispatchHandle,
    list: readonly ListenerEntry[],
    from: number,
    event: unknown,
    meta: DeliveryMeta | undefined,
  ): void {
    for (let i = from; i < list.length; i++) {
      const entry = list[i];
      if (!entry.active) continue;
      let result: unknown;
      let thenable: boolean;
      try {
        result = entry.call(event, meta);
        // Inside the try: reading `then` runs a getter on a foreign object, which may throw.
        thenable = result !== undefined && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
      } catch (err) {
        handle._fail(entry.name, err);
        continue;
      }
      if (thenable) {
        if (this.continueSyncAfter(result as PromiseLike<unknown>, handle, entry, list, i + 1, event, meta)) return;
      }
    }
    handle._release();
  }

  /** Runs the rest of the sync chain once `pending` settles; false when `then` itself threw. */
  private continueSyncAfter(
    pending: PromiseLike<unknown>,
    handle: DispatchHandle,
    entry: ListenerEntry,
    list: readonly ListenerEntry[],
    next: number,
    event: unknown,
    meta: DeliveryMeta | undefined,
  ): boolean {
    try {
      // Promise.resolve() adopts a foreign thenable once (a second call or a throw after it is ignored);
      // a native promise passes through as itself.
      Promise.resolve(pending).then(
        () => this.runSync(handle, list, next, event, meta),
        (err: unknown) => {
          handle._fail(entry.name, err);
          this.runSync(handle, list, next, event, meta);
        },
      );
      return true;
    } catch (err) {
      handle._fail(entry.name, err);
      return false;
    }
  }

  private runAsyncQueue(): void {
    this.asyncScheduled = false;
    const queue = this.asyncQueue;
    this.asyncQueue = [];
    for (let i = 0; i < queue.length; i += 4) {
      this.runAsync(queue[i] as DispatchHandle, queue[i + 1] as ListenerEntry, queue[i + 2], queue[i + 3] as DeliveryMeta | undefined);
    }
  }

  private runAsync(handle: DispatchHandle, entry: ListenerEntry, event: unknown, meta: DeliveryMeta | undefined): void {
    if (!entry.active) {
      handle._release();
      return;
    }
    let result: unknown;
    let thenable: boolean;
    try {
      result = entry.call(event, meta);
      // Inside the try: a throwing `then` getter would otherwise abort the whole async queue.
      thenable = result !== undefined && result !== null && typeof (result as PromiseLike<unknown>).then === 'function';
    } catch (err) {
      handle._fail(entry.name, err);
      handle._release();
      return;
    }
    if (thenable) {
      if (this.releaseAfter(result as PromiseLike<unknown>, handle, entry)) return;
    }
    handle._release();
  }

  /** Releases `handle` once `pending` settles; false when `then` itself threw. */
  private releaseAfter(pending: PromiseLike<unknown>, handle: DispatchHandle, entry: ListenerEntry): boolean {
    try {
      Promise.resolve(pending).then(
        () => handle._release(),
        (err: unknown) => {
          handle._fail(entry.name, err);
          handle._release();
        },
      );
      return true;
    } catch (err) {
      handle._fail(entry.name, err);
      return false;
    }
  }

  private track(handle: DispatchHandle): void {
    handle._tracked = true;
    this.inflight++;
  }

  private publishFailed(handle: DispatchHandle, cause: unknown): void {
    handle._fail(PUBLISHER, cause);
  }

  private refuse(value: unknown): DispatchHandle {
    const ctor = value !== null && typeof value === 'object' ? (value as object).constructor?.name : typeof value;
    const handle = new DispatchHandle(String(ctor ?? 'unknown'), this);
    this.publishFailed(
      handle,
      new InvalidEventError(
        `dispatch() needs an instance of a @DomainEvent class or (name, payload); ${ctor} is not a @DomainEvent class ` +
          `(decorate it with @DomainEvent('some.name') or call dispatch('some.name', payload))`,
      ),
    );
    handle._release();
    return handle;
  }

  // ---------------------------------------------------------------- internals: drivers

  private async doStart(): Promise<void> {
    // A closed bus does not connect again: nothing would close that driver.
    if (this.closing !== undefined) throw new EventBusClosedError('the event bus is closed: it cannot be started again');
    const options = resolveEventBusOptions(this.rawOptions);
    this.options = options;
    // Keep what was recorded before start (e.g. a bad dispatch from a constructor), within the new bound.
    const earlier = this.errorLog.list();
    this.errorLog = new ErrorLog(options.maxErrors);
    for (const error of earlier) this.errorLog.push(error);
    const driver = await createDriver(options);
    this.delivery = driver.delivery ?? 'broadcast';
    this.pipelineSettings.retryInProcess = this.delivery !== 'durable';
    this.codec = new EventCodec({
      maxEventSize: driver.maxEventSize ?? options.redis.maxEventSize,
      strictTypes: options.strictTypes,
      origin: this.busId,
    });
    const context: DriverContext = {
      busId: this.busId,
      decode: (raw, channel) => this.codec!.decode(raw, channel),
      reportError: (error) => this.recordError(error),
      log: (level, message) => this.logger[level](message),
      reportRetry: (listener, attempt, error, delayMs) => this.deliveryHooks.retrying(listener, attempt, error, delayMs),
    };
    await driver.init?.(context);
    this.driver = driver;
    // close() came while the driver connected: it closes this driver once start is over; attach nothing, stay closed.
    if (this.state !== 'created') return;
    this.state = 'starting';
    // Listeners registered before the driver existed subscribe now.
    if (this.delivery === 'durable') for (const entry of this.index.entries()) this.queueDriverOp(() => this.subscribeDurable(entry));
    else if (this.delivery === 'broadcast') for (const key of this.index.keys()) this.queueDriverOp(() => this.subscribeBroadcast(key));
  }

  private queueDriverOp(op: () => Promise<void>): void {
    const next = this.driverOps.then(op);
    // A failed subscription is reported, and the chain goes on for the next key.
    this.driverOps = next.catch((err: unknown) => {
      const error = err instanceof EventError ? err : new EventError('*', SUBSCRIBER, '', err);
      // Until app.init()'s last check a failed subscription fails start-up, also one of a listener registered
      // in code in another provider's onModuleInit (those subscribe after markReady()).
      if (!this.startedUp) this.startupFailure ??= error.cause;
      this.recordError(error);
    });
  }

  private async subscribeBroadcast(key: string): Promise<void> {
    if (this.subscribedKeys.has(key) || !this.index.hasKey(key)) return;
    this.subscribedKeys.add(key);
    const deliver: DeliverFn = (incoming) => this.deliverBroadcast(key, incoming);
    try {
      await this.driver!.subscribe(key, deliver);
    } catch (err) {
      this.subscribedKeys.delete(key);
      throw new EventError(key, SUBSCRIBER, '', err);
    }
  }

  private async subscribeDurable(entry: ListenerEntry): Promise<void> {
    if (!entry.active) return;
    this.subscribedKeys.add(entry.key);
    const deliver: DeliverFn = (incoming, meta) => this.deliverDurable(entry, incoming, meta);
    try {
      await this.driver!.subscribe(entry.key, deliver, { name: entry.name, options: entry.options });
    } catch (err) {
      throw new EventError(entry.key, SUBSCRIBER, '', err);
    }
  }

  /** Drops the driver subscription of `key` once no listener is left under it. */
  private syncSubscription(key: string): Promise<void> {
    this.queueDriverOp(async () => {
      if (this.index.hasKey(key) || !this.subscribedKeys.has(key)) return;
      this.subscribedKeys.delete(key);
      await this.driver?.unsubscribe(key);
    });
    return this.driverOps;
  }

  /** An event from another process, for the listeners under one subscription key. */
  private deliverBroadcast(key: string, incoming: IncomingEvent): Promise<void> {
    // A closing bus takes no new dispatches (§7), received ones included: with steady traffic the drain would never end.
    if (incoming.origin === this.busId || this.state === 'closing' || this.state === 'closed') return Promise.resolve();
    const handle = new DispatchHandle(incoming.name, this, incoming.handleId || undefined);
    this.runRoute(handle, this.index.routeKey(key, incoming.name), incoming.event, undefined);
    if (handle.settled) return Promise.resolve();
    this.track(handle);
    return handle.done.then(() => undefined);
  }

  /** A durable delivery to one listener: resolves when it succeeded, rejects with its failure. */
  private async deliverDurable(entry: ListenerEntry, incoming: IncomingEvent, meta: DeliveryMeta | undefined): Promise<void> {
    if (!entry.active) throw new EventBusClosedError(`listener ${entry.name} is no longer registered`);
    // A closing bus starts no new delivery (§7); the driver leaves the entry pending for another replica.
    if (this.state === 'closing' || this.state === 'closed') throw new EventBusClosedError();
    this.inflight++;
    try {
      await entry.call(incoming.event, meta);
    } finally {
      this.endInflight();
    }
  }

  /**
   * Resolves true once nothing is in flight, false after `timeoutMs`. Its timer is not unref'd:
   * with only a hanging listener left, the process must still reach the end of close() (and the
   * shutdown hooks after it) instead of exiting half-way; the bound keeps that short.
   */
  private drain(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private async doClose(): Promise<void> {
    this.state = 'closing';
    // Dispatches that never got to run are failed, not lost.
    for (const { handle } of this.queuedBeforeReady.splice(0)) {
      this.publishFailed(handle, new EventBusClosedError('the event bus closed before it was ready: event not dispatched'));
      handle._release();
    }
    // A dispatch counts as in flight only once its sync listeners returned (off the hot path): when a
    // listener itself called close(), let that dispatch finish routing so the drain below sees it.
    await RESOLVED;
    const timeoutMs = this.options?.shutdownTimeoutMs ?? 10_000;
    if (!(await this.drain(timeoutMs))) {
      this.logger.warn(`shutdown: ${this.inflight} dispatch(es) still running after shutdownTimeoutMs (${timeoutMs} ms); closing anyway`);
    }
    await Promise.all(this.index.entries().map((entry) => entry.close().catch(() => undefined)));
    try {
      // A start still connecting the driver is waited for, so the driver it opens is closed too.
      await this.starting?.catch(() => undefined);
      await this.driverOps;
      await this.driver?.close();
    } catch (err) {
      this.logger.error(`closing the driver failed: ${(err as Error)?.message ?? String(err)}`);
    }
    this.state = 'closed';
    this.errorSubject.complete();
    this.retrySubject.complete();
    // observe() streams end with the bus, like errors$ (lastValueFrom(bus.observe(...)) resolves).
    for (const complete of [...this.observers]) complete();
  }

  // ---------------------------------------------------------------- internals: keys

  private keyOf(target: string | EventClass, where: string): string {
    if (typeof target === 'function') {
      const meta = getDomainEventMetadata(target);
      if (meta === undefined) {
        throw new TypeError(`${where}: class ${target.name} is not a @DomainEvent class; decorate it or pass an event name`);
      }
      return meta.name;
    }
    assertEventKey(target, where);
    return target;
  }

  /** @internal The event names (or patterns) a listener target names; `where` prefixes errors. */
  eventKeys(target: EventKey, where: string): string[] {
    const list = Array.isArray(target) ? target : [target as string | EventClass];
    if (list.length === 0) throw new TypeError(`${where}: an empty list names no event`);
    return list.map((t) => this.keyOf(t, where));
  }
}
