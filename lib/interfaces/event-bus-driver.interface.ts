import type { DeadLetterStore } from '../dead-letters/dead-letter-store.interface';
import type { EventError } from '../errors/event.error';
import type { IncomingEvent, OutgoingEvent } from './event-envelope.interface';
import type { ListenerOptions } from './listener-options.interface';
import type { TrackingHooks, TrackingTransport } from '../tracking/tracking-transport';

export type { DeadLetterStore } from '../dead-letters/dead-letter-store.interface';

/**
 * How a driver reaches listeners.
 * - `local`: nothing leaves the process; the bus runs every listener itself (memory).
 * - `broadcast`: the bus runs this process's listeners inline and the driver carries the event to
 *   every other bus; the driver must drop its own echo (`origin === context.busId`) (redis pub/sub).
 * - `durable`: the bus runs no listener on dispatch; the driver appends the event and delivers it to
 *   each listener itself, wherever its consumers run (redis-streams).
 */
export type DriverDelivery = 'local' | 'broadcast' | 'durable';

/** What the bus hands a driver when it starts. */
export interface DriverContext {
  /** Unique id of this bus instance (two apps in one process have two). */
  readonly busId: string;
  /**
   * Turns a raw wire message into an event, or throws a `MessageRejectedError`. `expectedName` is the
   * event the channel or stream carries: a message that claims another name is rejected.
   */
  decode(raw: string | Buffer, channel: string, expectedName?: string): IncomingEvent;
  /** Reports an error that belongs to no dispatch handle (a rejected message, a lost connection). */
  reportError(error: EventError): void;
  /** Logs an operational message (reconnects, resubscriptions). */
  log(level: 'log' | 'warn' | 'error' | 'debug', message: string): void;
  /** A durable driver will deliver again after `delayMs` (counted in `stats().retries`, emitted on `retries$`). */
  reportRetry?(listener: string, attempt: number, error: unknown, delayMs: number, eventName?: string): void;
  /** A durable driver wrote an entry to its dead-letter stream (counted by metrics; a failed write is not). */
  reportDeadLetter?(eventName: string, listener: string): void;
  /** The bus's tracked dispatches (dispatch `trackRemote`), for drivers that offer `tracking`. */
  readonly tracking?: TrackingHooks;
}

/** A listener as the driver sees it (durable drivers give each one its own consumer group). */
export interface DriverListener {
  /** `Class.method`, or the programmatic listener's name. */
  readonly name: string;
  readonly options: ListenerOptions;
}

/** What a durable driver passes with each delivery. */
export interface DeliveryMeta {
  /** The stream entry id, the same on every redelivery. */
  readonly id: string;
  /** 1 on first delivery. */
  readonly attempt: number;
}

/**
 * Called by the driver for each received event. For `broadcast` drivers it runs every local listener
 * registered under the subscribed key; for `durable` drivers it runs the one listener and rejects
 * when that listener failed (the driver then retries or dead-letters).
 */
export type DeliverFn = (event: IncomingEvent, meta?: DeliveryMeta) => Promise<void>;

/**
 * What a `DeliverFn` returns when the delivery already finished, successfully, before it returned (the
 * listeners returned no promise). A driver may compare with it to settle the delivery at once, without
 * a reaction per event; it is an ordinary resolved promise to every other caller.
 */
export const DELIVERED: Promise<void> = Promise.resolve();

/** Receives the outcome of one `publishTracked()`. */
export interface PublishTracker {
  /**
   * Called once: with no error when the event was sent, with the error when it was not. `receivers`:
   * how many subscriptions got it, when the transport says (Redis PUBLISH's reply).
   */
  published(error?: unknown, receivers?: number): void;
}

/**
 * The extension point (goevent's Driver). Implement it and pass the instance as
 * `EventBusModule.forRoot({ driver: myDriver })`.
 */
export interface EventBusDriver {
  /** Defaults to `broadcast`. */
  readonly delivery?: DriverDelivery;
  /** Largest encoded event in bytes; the bus refuses larger ones before anything runs. */
  readonly maxEventSize?: number;
  /** Connects and gets the bus's callbacks; awaited before `app.init()` resolves. */
  init?(context: DriverContext): Promise<void> | void;
  /** Sends one encoded event. Rejects (typed) when it could not be sent. */
  publish(event: OutgoingEvent): Promise<void> | void;
  /**
   * Optional, for throughput: the same as `publish()`, but the outcome is reported by calling
   * `tracker.published()` exactly once (no argument: sent; an error: not sent) instead of through a
   * promise. The bus uses it when present: a promise and its reactions per event cost more than
   * the rest of a Redis dispatch.
   */
  publishTracked?(event: OutgoingEvent, tracker: PublishTracker): void;
  /**
   * Starts delivering events for `key` (an event name, or a `*`/`**` pattern) to `deliver`.
   * Broadcast drivers get one call per key; durable drivers one per listener (`listener` set).
   * Resolves once the subscription is confirmed.
   */
  subscribe(key: string, deliver: DeliverFn, listener?: DriverListener): Promise<void> | void;
  /** Stops delivering `key`: every listener of it, or (durable drivers) only `listener`. Idempotent. */
  unsubscribe(key: string, listener?: DriverListener): Promise<void> | void;
  /** Stops intake, finishes in-flight deliveries, releases what the driver created. Idempotent. */
  close(): Promise<void>;
  /** Set by a driver that keeps the events its listeners gave up on (`DeadLetterService` uses it). */
  readonly deadLetters?: DeadLetterStore;
  /** Set by a driver whose listeners read through consumer groups (the event board, health, metrics). */
  readonly consumerGroups?: ConsumerGroupInspector;
  /** Set by a driver that can carry tracking reports between buses (dispatch `trackRemote`). */
  readonly tracking?: TrackingTransport;
  /**
   * Optional: the state of the driver's connections, for health checks. Must answer within
   * `timeoutMs` (a bounded round trip, never a wait for a server that does not answer).
   */
  health?(timeoutMs: number): Promise<DriverHealth>;
}

/** What `EventBusDriver.health()` reports. */
export interface DriverHealth {
  /** Every connection is up and the server answered in time. */
  readonly connected: boolean;
  /** Each connection's state by its role (`publisher`, `subscriber`, `reader <group>`…): `ready`, `reconnecting`… */
  readonly connections: Readonly<Record<string, string>>;
  /** Consumers (subscriptions, stream readers) that are running; undefined when the driver has none to tell. */
  readonly consumers?: number;
  /** Why it is not connected. */
  readonly error?: string;
}

/** One consumer group of one event's stream, as Redis reports it. */
export interface ConsumerGroupInfo {
  readonly eventName: string;
  /** The Redis key of the stream. */
  readonly stream: string;
  readonly group: string;
  readonly consumers: number;
  /** Entries delivered to the group and not yet acknowledged. */
  readonly pending: number;
  /** Entries appended but not yet delivered to the group; `null` when Redis cannot tell (trimmed history). */
  readonly lag: number | null;
  /** Entries in the event's dead-letter stream (all of its groups). */
  readonly deadLetters: number;
}

/** Reads the state of consumer groups, every stream in one round trip. */
export interface ConsumerGroupInspector {
  /** This app's groups start with `serviceGroup + ':'`; undefined when the app names no group. */
  readonly serviceGroup: string | undefined;
  /** The groups of these events' streams (a stream that does not exist has none). */
  groups(eventNames: readonly string[]): Promise<ConsumerGroupInfo[]>;
}
