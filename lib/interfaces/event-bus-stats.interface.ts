/** Counts since start (every drop is counted, never silent). */
export interface EventBusStats {
  dispatched: number;
  listenerErrors: number;
  publishErrors: number;
  rejectedMessages: number;
  /** Times Redis (or the network) closed the pub/sub subscriber connection: events published meanwhile were missed. */
  subscriberDisconnects: number;
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

/** A failed attempt that will be retried (not an error on the handle until the last one fails). */
export interface RetryNotice {
  listener: string;
  /**
   * The event retried. Always set on redis-streams and whenever something watches the bus
   * (telemetry, an event board page, a recorder, a tracked dispatch); a plain in-process call
   * leaves it out so the dispatch path stays as cheap as it is.
   */
  eventName?: string;
  attempt: number;
  error: unknown;
  delayMs: number;
}
