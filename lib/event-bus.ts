import { Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import { BusRuntime } from './core/bus-runtime';
import type { DispatchHandle, WaitOptions } from './dispatch/dispatch-handle';
import type { DispatchOptions } from './tracking/listener-outcome';
import type { EventError } from './errors/event.error';
import type { EventBusDriver } from './interfaces/event-bus-driver.interface';
import type { EventBusStats, RetryNotice } from './interfaces/event-bus-stats.interface';
import type { EventClass } from './interfaces/event-class.interface';
import type { ProgrammaticListener } from './interfaces/programmatic-listener.interface';
import { eventKeys, keyOf } from './routing/event-key';
import { EventRecorder } from './testing/event-recorder';
import type { ListenerCall } from './routing/listener-entry';

/**
 * The bus: dispatches events to listeners through the configured driver, tracks each dispatch
 * on its handle, and keeps the errors. One per application. A thin facade: the work is done by
 * the module's internal `BusRuntime` and its collaborators (`lib/core/`).
 */
@Injectable()
export class EventBus {
  /** Every error of every dispatch, as it happens. */
  readonly errors$: Observable<EventError>;
  /** Failed attempts that will be retried (not errors on the handle until the last one fails). */
  readonly retries$: Observable<RetryNotice>;

  /** @internal */
  private readonly runtime: BusRuntime;

  /** @internal Built by the module (inject `EventBus`). */
  constructor(runtime: BusRuntime) {
    this.runtime = runtime;
    this.errors$ = runtime.telemetry.errors$;
    this.retries$ = runtime.telemetry.retries$;
  }

  /** Dispatches a `@DomainEvent` instance; `{ trackRemote: true }` follows it into other processes. */
  dispatch(event: object, options?: DispatchOptions): DispatchHandle;
  /** Dispatches an untyped event: listeners of `name` receive `payload`. */
  dispatch(name: string, payload?: unknown, options?: DispatchOptions): DispatchHandle;
  dispatch(eventOrName: object | string, payloadOrOptions?: unknown, options?: DispatchOptions): DispatchHandle {
    // Hot path: one test, then straight to routing (V8 inlines the whole dispatch into the caller
    // only while it stays small); instances and options take the runtime's other door.
    if (typeof eventOrName === 'string' && options === undefined) return this.runtime.send(eventOrName, eventOrName, payloadOrOptions);
    return this.runtime.dispatchOther(eventOrName, payloadOrOptions, options);
  }

  /** Resolves when every in-flight listener of every dispatch has settled (goevent's Wait). */
  wait(options: WaitOptions = {}): Promise<void> {
    return this.runtime.inflight.wait(options.timeoutMs);
  }

  /** The latest errors, oldest first, at most `maxErrors` (goevent's GetErrors). */
  getErrors(): EventError[] {
    return this.runtime.telemetry.errors();
  }

  clearErrors(): void {
    this.runtime.telemetry.clearErrors();
  }

  stats(): Readonly<EventBusStats> {
    return this.runtime.telemetry.stats();
  }

  /** Events of a class or name/pattern as they are delivered here (saga-style). */
  observe<T>(target: EventClass<T>): Observable<T>;
  observe<T = unknown>(target: string): Observable<T>;
  observe<T>(target: EventClass<T> | string): Observable<T> {
    const key = keyOf(target, 'observe()');
    const runtime = this.runtime;
    return new Observable<T>((subscriber) => {
      // Like errors$, a closed bus has no more events: complete rather than error (rxjs would throw an
      // unhandled error at a subscriber without an error callback).
      if (runtime.lifecycle.closed) {
        subscriber.complete();
        return undefined;
      }
      const entry = runtime.addListener(key, `observe(${key})`, (event) => subscriber.next(event as T), {});
      const forget = runtime.onClose(() => subscriber.complete());
      return () => {
        forget();
        void runtime.removeListener(entry);
      };
    });
  }

  registerListener(...listeners: ProgrammaticListener[]): void {
    for (const listener of listeners) {
      if (listener === null || typeof listener !== 'object' || typeof listener.onEvent !== 'function') {
        throw new TypeError('registerListener() takes objects like { eventName, onEvent(event) {...} }');
      }
      const ctorName = Object.getPrototypeOf(listener)?.constructor?.name;
      const name = listener.name ?? (ctorName && ctorName !== 'Object' ? ctorName : 'anonymous');
      const call: ListenerCall = (event, meta) => listener.onEvent(event, meta);
      for (const key of eventKeys(listener.eventName, 'registerListener()')) {
        this.runtime.addListener(key, name, call, listener.options ?? {});
      }
    }
  }

  /** Removes every listener of `eventName` (a name, class or pattern). Idempotent, safe during dispatch. */
  async unregisterListenersForEvent(eventName: string | EventClass): Promise<void> {
    await this.runtime.removeKey(keyOf(eventName, 'unregisterListenersForEvent()'));
  }

  /**
   * Starts recording what this bus dispatches and delivers, for tests: `waitFor()`, `dispatched()`,
   * `received()`, `stop()`. Costs nothing until called, and nothing after `stop()`.
   */
  record(): EventRecorder {
    let detach: () => void = () => undefined;
    const recorder = new EventRecorder(() => detach());
    detach = this.runtime.addObserver(recorder.observer);
    return recorder;
  }

  /**
   * Stops taking dispatches, waits for in-flight listeners (at most `shutdownTimeoutMs`), then
   * closes the driver and what it opened. Idempotent.
   */
  close(): Promise<void> {
    return this.runtime.close();
  }

  /** @internal The driver in use, once started (dead letters and tests reach it through here). */
  getDriver(): EventBusDriver | undefined {
    return this.runtime.getDriver();
  }
}
