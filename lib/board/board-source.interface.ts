import type { EventBusStats } from '../interfaces/event-bus-stats.interface';

/**
 * Everything the event board shows comes through this one interface, so the page and its JSON API
 * do not depend on how the bus is built inside. `BusBoardSource` is the implementation on top of
 * the bus; a test or another transport can supply its own.
 */
export interface BoardSource {
  /** Driver, counters and listeners, as they are now. */
  snapshot(): BoardSnapshot;
  /** The latest dispatches, newest first (bounded). */
  latestEvents(): BoardEvent[];
  /** The latest errors, newest first (bounded). */
  latestErrors(): BoardError[];
  /** Consumer groups of every stream this app listens on; `undefined` when the driver is not redis-streams. */
  consumerGroups(): Promise<BoardConsumerGroup[] | undefined>;
  /** Dead letters per event this app listens on; `undefined` when the driver is not redis-streams. */
  deadLetters(perEvent: number): Promise<BoardDeadLetters[] | undefined>;
  /** Names the board accepts in write requests (the bus's own listener names, no patterns). */
  knownEvents(): string[];
  replayDeadLetter(eventName: string, id: string): Promise<void>;
  /** False when there was no such dead letter. */
  deleteDeadLetter(eventName: string, id: string): Promise<boolean>;
  /**
   * Starts recording while at least one watcher is registered (nothing is recorded per dispatch
   * otherwise); `onChange` is called, at most once per tick, when something new was recorded.
   * Returns the function that removes the watcher.
   */
  watch(onChange: () => void): () => void;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BoardListener {
  /** Event name or pattern it is registered under. */
  readonly event: string;
  /** `Class.method` (or the programmatic listener's name). */
  readonly name: string;
  readonly mode: 'sync' | 'async';
  /** Its delivery policies in words, e.g. `retry 3×`, `breaker 5 / 10000 ms`. */
  readonly policies: string[];
  /** `undefined` when it has no breaker. */
  readonly breaker?: BreakerState;
  /** Calls (attempts through its policies) seen since the board started watching. */
  readonly calls: number;
  readonly failures: number;
  /** Mean duration of the calls seen, in ms. */
  readonly meanMs?: number;
}

export interface BoardSnapshot {
  /** `memory`, `redis`, `redis-streams` or the custom driver's class name; `undefined` before start. */
  readonly driver: string | undefined;
  /** This app's bus id (remote outcomes name the bus that reported them). */
  readonly busId: string;
  readonly stats: Readonly<EventBusStats>;
  readonly listeners: BoardListener[];
  /** When a page first opened (ms since epoch); calls are counted only while one is open. */
  readonly watchingSince: number | undefined;
  /** Dispatches seen but not listed: a burst lists only its first 100 per tick (all are counted in `stats`). */
  readonly unlistedEvents: number;
}

export type BoardOutcome = 'pending' | 'ok' | 'failed';

export interface BoardEvent {
  readonly seq: number;
  readonly name: string;
  readonly handleId: string;
  /** Dispatched at (ms since epoch). */
  readonly at: number;
  /** Until its handle settled; `undefined` while pending. */
  readonly durationMs?: number;
  readonly outcome: BoardOutcome;
  readonly errors: number;
  /** JSON of the payload, truncated; only with `showPayloads`. */
  readonly payload?: string;
  /** The trace it was dispatched in; only with telemetry tracing on. */
  readonly traceId?: string;
  /** What other processes reported for it; only for tracked dispatches (`trackRemote`), as reports arrive. */
  readonly remoteOutcomes?: BoardRemoteOutcome[];
  /** Remote outcomes reported beyond the ones listed. */
  readonly remoteOutcomesNotListed?: number;
}

/** One listener call in another process, as its bus reported it. */
export interface BoardRemoteOutcome {
  /** `Class.method`; on redis-streams the consumer group. */
  readonly listener: string;
  /** The bus id of the process that ran it. */
  readonly reporter: string;
  readonly ok: boolean;
  readonly attempts: number;
  readonly durationMs: number;
  /** The failure's message (truncated); absent when `ok`. */
  readonly error?: string;
}

export interface BoardError {
  readonly eventName: string;
  readonly listener: string;
  readonly handleId: string;
  readonly message: string;
  /** The cause's class name (`ListenerTimeoutError`, `Error`, ...). */
  readonly cause: string;
  /** When the board saw it (ms since epoch); `undefined` for errors from before it watched. */
  readonly at?: number;
}

export interface BoardConsumerGroup {
  readonly event: string;
  readonly stream: string;
  readonly group: string;
  /** Entries not yet delivered to the group (`undefined` when Redis cannot tell). */
  readonly lag?: number;
  /** Delivered, not yet acknowledged. */
  readonly pending: number;
  readonly consumers: number;
  /** This app's group (its `streams.group`). */
  readonly ours: boolean;
}

export interface BoardDeadLetter {
  readonly id: string;
  readonly eventId: string;
  readonly listener: string;
  readonly attempts: number;
  readonly error: string;
  readonly failedAt: number;
  readonly reason?: string;
  /** The envelope, truncated; only with `showPayloads`. */
  readonly payload?: string;
}

export interface BoardDeadLetters {
  readonly event: string;
  readonly count: number;
  /** The oldest ones, at most the number asked for. */
  readonly items: BoardDeadLetter[];
}
