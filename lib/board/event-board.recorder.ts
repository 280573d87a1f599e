import { BreakerOpenError } from '../errors/breaker-open.error';
import type { EventError } from '../errors/event.error';
import type { ListenerOutcome } from '../tracking/listener-outcome';
import type { BoardOutcome, BoardRemoteOutcome } from './board-source.interface';
import { RingBuffer } from './ring-buffer';

/** How many dispatches the board remembers. */
export const LATEST_EVENTS = 100;
/** Payload text kept per event (characters). */
export const PAYLOAD_LIMIT = 2_000;
/** Remote outcomes kept per tracked dispatch (the rest are counted). */
export const REMOTE_OUTCOMES_LIMIT = 20;
/** Characters kept of a remote failure's message. */
const REMOTE_MESSAGE_LIMIT = 300;

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
  /** The trace it was dispatched in (tracing on); the PRODUCER span's when it left the process. */
  traceId: string | undefined;
  /** Outcomes other buses reported for it (tracked dispatches); undefined until the first report. */
  remote: BoardRemoteOutcome[] | undefined;
  /** Remote outcomes reported beyond `REMOTE_OUTCOMES_LIMIT`. */
  remoteMore: number;
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
  private tickScheduled = false;
  /** Dispatches listed since the last microtask checkpoint: a burst lists its first `LATEST_EVENTS` only. */
  private listedThisTick = 0;
  /** Dispatches not listed because a burst was over the limit (they are counted, not kept). */
  unlisted = 0;
  /** Moves whenever something new was recorded. */
  version = 0;
  private readonly endTick = (): void => {
    this.tickScheduled = false;
    this.listedThisTick = 0;
    this.changed?.();
  };

  constructor(private readonly showPayloads: boolean) {}

  /** Called once per tick in which anything new was recorded (not once per event: that would cost per dispatch). */
  onChange(listener: (() => void) | undefined): void {
    this.changed = listener;
  }

  private touched(): void {
    this.version++;
    if (this.tickScheduled) return;
    this.tickScheduled = true;
    queueMicrotask(this.endTick);
  }

  /** False once this tick listed `LATEST_EVENTS` dispatches (the next ones are only counted as unlisted). */
  get listing(): boolean {
    if (this.listedThisTick < LATEST_EVENTS) return true;
    this.unlisted++;
    return false;
  }

  /**
   * Lists one dispatch; `undefined` when this tick already listed `LATEST_EVENTS` (a tight loop of
   * dispatches would only push its own earlier entries out of the list, at a cost per event).
   */
  dispatched(name: string, handleId: string, payload: unknown, traceId?: string): RecordedDispatch | undefined {
    if (this.listedThisTick >= LATEST_EVENTS) {
      this.unlisted++;
      return undefined;
    }
    this.listedThisTick++;
    const record: RecordedDispatch = {
      seq: ++this.seq,
      name,
      handleId,
      at: Date.now(),
      durationMs: undefined,
      outcome: 'pending',
      errors: 0,
      payload: this.showPayloads ? payloadText(payload) : undefined,
      traceId,
      remote: undefined,
      remoteMore: 0,
    };
    this.events.push(record);
    this.touched();
    return record;
  }

  dispatchSettled(record: RecordedDispatch, errorCount: number): void {
    record.durationMs = Date.now() - record.at;
    record.errors = errorCount;
    record.outcome = errorCount === 0 ? 'ok' : 'failed';
    this.touched();
  }

  traced(record: RecordedDispatch, traceId: string): void {
    if (record.traceId === traceId) return;
    record.traceId = traceId;
    this.touched();
  }

  /** Another bus (`reporter`) reported these outcomes of a tracked dispatch. */
  remoteReported(record: RecordedDispatch, reporter: string, outcomes: readonly ListenerOutcome[]): void {
    const list = (record.remote ??= []);
    for (const o of outcomes) {
      if (list.length >= REMOTE_OUTCOMES_LIMIT) {
        record.remoteMore++;
        continue;
      }
      list.push({
        listener: o.listener,
        reporter,
        ok: o.ok,
        attempts: o.attempts,
        durationMs: o.durationMs,
        ...(o.ok ? {} : { error: failureText(o.error) }),
      });
    }
    this.touched();
  }

  /** Returns the start time to hand back to `deliveryEnded()`. */
  deliveryStarted(): number {
    return performance.now();
  }

  /**
   * `error` is undefined for a call that succeeded. `tally` is `tallyFor(eventKey, listener)`, which an
   * observer may look up once per listener rather than once per call.
   */
  deliveryEnded(
    eventKey: string,
    listener: string,
    startedAt: number,
    failed: boolean,
    error?: unknown,
    tally = this.tallyFor(eventKey, listener),
  ): void {
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
    this.touched();
  }

  error(error: EventError): void {
    this.errorTimes.set(error, Date.now());
    this.touched();
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

  /** The (created on first use) tally of one listener under one event key. */
  tallyFor(eventKey: string, listener: string): ListenerTally {
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

function failureText(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > REMOTE_MESSAGE_LIMIT ? `${text.slice(0, REMOTE_MESSAGE_LIMIT)}…` : text;
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
