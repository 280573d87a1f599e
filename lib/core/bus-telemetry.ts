import { Observable, Subject } from 'rxjs';
import type { DeliveryCounter, DeliveryHooks } from '../delivery/delivery-pipeline';
import { ErrorLog } from '../dispatch/error-log';
import { EventError, PUBLISHER, SUBSCRIBER } from '../errors/event.error';
import { SubscriberDisconnectedError } from '../errors/subscriber-disconnected.error';
import type { EventBusStats, RetryNotice } from '../interfaces/event-bus-stats.interface';
import type { ErrorLogLimiter } from '../logging/error-log-limiter';
import type { BusObserver } from './bus-observer';

/**
 * What the bus counts and reports: the counters of `stats()`, the bounded error log of
 * `getErrors()`, the `errors$` and `retries$` streams, and the observer that sees each error.
 */
export class BusTelemetry {
  readonly errors$: Observable<EventError>;
  readonly retries$: Observable<RetryNotice>;
  readonly counters: EventBusStats = {
    dispatched: 0,
    listenerErrors: 0,
    publishErrors: 0,
    rejectedMessages: 0,
    subscriberDisconnects: 0,
    retries: 0,
    timeouts: 0,
    queueOverflows: 0,
    breakerRejections: 0,
    breakerOpens: 0,
    filtered: 0,
    abandonedOnClose: 0,
  };
  /** What delivery policies report through (retries and their counters). */
  readonly deliveryHooks: DeliveryHooks;
  /** Set by the runtime when something observes the bus. */
  observer: BusObserver | undefined = undefined;
  /** Writes each recorded error to the log, rate-limited; unset with `logErrors: false`. */
  log: ErrorLogLimiter | undefined = undefined;

  private readonly errorSubject = new Subject<EventError>();
  private readonly retrySubject = new Subject<RetryNotice>();
  private errorLog: ErrorLog;

  constructor(maxErrors: number) {
    this.errors$ = this.errorSubject.asObservable();
    this.retries$ = this.retrySubject.asObservable();
    this.errorLog = new ErrorLog(maxErrors);
    this.deliveryHooks = {
      retrying: (listener, attempt, error, delayMs, eventName) => this.retrying(listener, attempt, error, delayMs, eventName),
      count: (counter: DeliveryCounter) => {
        this.counters[counter]++;
      },
    };
  }

  /** Re-bounds the error log once the options are validated, keeping what was recorded before. */
  resize(maxErrors: number): void {
    const earlier = this.errorLog.list();
    this.errorLog = new ErrorLog(maxErrors);
    for (const error of earlier) this.errorLog.push(error);
  }

  record(error: EventError): void {
    if (error.listener === PUBLISHER) this.counters.publishErrors++;
    else if (error.listener === SUBSCRIBER) {
      // A lost subscriber connection is not a rejected message: it is counted on its own.
      if (error.cause instanceof SubscriberDisconnectedError) this.counters.subscriberDisconnects++;
      else this.counters.rejectedMessages++;
    } else this.counters.listenerErrors++;
    this.errorLog.push(error);
    this.errorSubject.next(error);
    if (this.log !== undefined) this.log.report(error);
    if (this.observer !== undefined) this.observer.error(error);
  }

  retrying(listener: string, attempt: number, error: unknown, delayMs: number, eventName: string | undefined): void {
    this.counters.retries++;
    this.retrySubject.next(
      eventName === undefined ? { listener, attempt, error, delayMs } : { listener, eventName, attempt, error, delayMs },
    );
  }

  deadLettered(eventName: string, listener: string): void {
    if (this.observer !== undefined) this.observer.deadLettered?.(eventName, listener);
  }

  errors(): EventError[] {
    return this.errorLog.list();
  }

  clearErrors(): void {
    this.errorLog.clear();
  }

  stats(): EventBusStats {
    return { ...this.counters };
  }

  /** The bus closed: the streams complete. */
  complete(): void {
    this.log?.flush();
    this.errorSubject.complete();
    this.retrySubject.complete();
  }
}
