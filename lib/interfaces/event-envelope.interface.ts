import type { TrackingSink } from '../tracking/tracking-transport';

/**
 * An event on its way out of the process, encoded once by the bus so the size and
 * serialisability checks happen before any listener runs.
 */
export interface OutgoingEvent {
  /** Routing key (goevent's `event_name`). */
  readonly name: string;
  /** Registry key (goevent's `event_type`). */
  readonly type: string;
  /** The wire `handle_id`: 16 lowercase hex chars. */
  readonly handleId: string;
  /** The complete wire message: a goevent v1.1 JSON envelope plus `origin`. */
  readonly payload: string;
  /** `payload`'s length in bytes (UTF-8). */
  readonly size: number;
}

/** A decoded wire message, before its data is rebuilt as a class. */
export interface WireEnvelope {
  event_name: string;
  event_type: string;
  event_data: unknown;
  handle_id: string;
  timestamp: number;
  /** The id of the bus that published it; lets a broadcast driver ignore its own echo. */
  origin?: string;
  /** Set on a tracked dispatch: the channel where receiving buses send their reports. */
  reply_to?: string;
  [extra: string]: unknown;
}

/** An event delivered to the bus by a driver, rebuilt and ready for listeners. */
export interface IncomingEvent {
  readonly name: string;
  readonly type: string;
  readonly handleId: string;
  /** The rebuilt event: a registered class instance, or plain data. */
  readonly event: unknown;
  readonly origin?: string;
  /** A tracked dispatch's reports channel (`reply_to`). */
  readonly replyTo?: string;
  /** Set by a driver on a tracked copy: where the bus leaves the outcomes of the listeners it ran for it. */
  readonly sink?: TrackingSink;
}
