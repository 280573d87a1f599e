import { BreakerOpenError } from '../errors/breaker-open.error';
import type { EventError } from '../errors/event.error';
import type { BoardOutcome } from './board-source.interface';
import { RingBuffer } from './ring-buffer';

/** How many dispatches the board remembers. */
export const LATEST_EVENTS = 100;
/** Payload text kept per event (characters). */
export const PAYLOAD_LIMIT = 2_000;

/** One dispatch as the board saw it; settled in place when its handle settles. */
export interface RecordedDispatch {
  readonly seq: number;
  readonly name: string;
  readonly handleId: string;
  readonly at: number;
  durationMs: number | undefined;
  outcome: BoardOutcome;
  errors: number;
  readonly payload: string | undefined;
}

/** Calls and failures of one listener (under one event key). */
export interface ListenerTally {
  calls: number;
  failures: number;
  totalMs: number;
  consecutiveFailures: number;
  lastFailureAt: number;
  /** Its last call was refused by its open breaker. */
  refusedByBreaker: boolean;
}

/**
 * What the board records while someone watches it: the latest dispatches (bounded), calls and
 * failures per listener, and when each error was seen. Whatever observes the bus calls
 * `dispatched()`/`dispatchSettled()`, `deliveryStarted()`/`deliveryEnded()` and `error()`; the
 * board's source attaches that observer only while a page is open, so an app with the board
 * mounted and nobody looking pays nothing per dispatch.
 */
export class EventBoardRecorder {
  private readonly events = new RingBuffer<RecordedDispatch>(LATEST_EVENTS);
  /** Keyed by event key, then listener name. */
  private readonly tallies = new Map<string, Map<string, ListenerTally>>();
  private readonly errorTimes = new WeakMap<EventError, number>();
  private seq = 0;
  private changed: (() => void) | undefined;

  constructor(private readonly showPayloads: boolean) {}

  /** Called after anything new was recorded (the source bumps its version). */
  onChange(listener: (() => void) | undefined): void {
    this.changed = listener;
  }

  dispatched(name: string, handleId: string, payload: unknown): RecordedDispatch {
    const record: RecordedDispatch = {
      seq: ++this.seq,
      name,
      handleId,
      at: Date.now(),
      durationMs: undefined,
      outcome: 'pending',
      errors: 0,
      payload: this.showPayloads ? payloadText(payload) : undefined,
    };
    this.events.push(record);
    this.changed?.();
    return record;
  }

  dispatchSettled(record: RecordedDispatch, errorCount: number): void {
    record.durationMs = Date.now() - record.at;
    record.errors = errorCount;
    record.outcome = errorCount === 0 ? 'ok' : 'failed';
    this.changed?.();
  }

  /** Returns the start time to hand back to `deliveryEnded()`. */
  deliveryStarted(): number {
    return performance.now();
  }

  /** `error` is undefined for a call that succeeded. */
  deliveryEnded(eventKey: string, listener: string, startedAt: number, failed: boolean, error?: unknown): void {
    const tally = this.tally(eventKey, listener);
    tally.calls++;
    tally.totalMs += performance.now() - startedAt;
    if (failed) {
      tally.failures++;
      tally.consecutiveFailures++;
      tally.lastFailureAt = Date.now();
      tally.refusedByBreaker = error instanceof BreakerOpenError;
    } else {
      tally.consecutiveFailures = 0;
      tally.refusedByBreaker = false;
    }
    this.changed?.();
  }

  error(error: EventError): void {
    this.errorTimes.set(error, Date.now());
    this.changed?.();
  }

  latestEvents(): RecordedDispatch[] {
    return this.events.newestFirst();
  }

  tallyOf(eventKey: string, listener: string): ListenerTally | undefined {
    return this.tallies.get(eventKey)?.get(listener);
  }

  timeOf(error: EventError): number | undefined {
    return this.errorTimes.get(error);
  }

  private tally(eventKey: string, listener: string): ListenerTally {
    let byName = this.tallies.get(eventKey);
    if (byName === undefined) this.tallies.set(eventKey, (byName = new Map()));
    let tally = byName.get(listener);
    if (tally === undefined) {
      tally = { calls: 0, failures: 0, totalMs: 0, consecutiveFailures: 0, lastFailureAt: 0, refusedByBreaker: false };
      byName.set(listener, tally);
    }
    return tally;
  }
}

/** JSON of a payload, cut to `PAYLOAD_LIMIT` characters; never throws. */
export function payloadText(payload: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(payload) ?? String(payload);
  } catch {
    text = '(not serialisable)';
  }
  return text.length > PAYLOAD_LIMIT ? `${text.slice(0, PAYLOAD_LIMIT)}… (${text.length} chars)` : text;
}
