import type { BusObserver, OutgoingScope } from '../core/bus-observer';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { EventError, PUBLISHER, SUBSCRIBER } from '../errors/event.error';
import { MessageRejectedError } from '../errors/message-rejected.error';
import { RemoteListenerError } from '../errors/remote-listener.error';
import { RemoteTrackingTimeoutError } from '../errors/remote-tracking-timeout.error';
import { TrackingLimitError } from '../errors/tracking-limit.error';
import type { PublishTracker } from '../interfaces/event-bus-driver.interface';
import { HandleTracking } from './handle-tracking';
import { redisGlobMatches } from './redis-glob';
import { decodeReports, type DecodedReports, type TrackingReport } from './report-codec';
import type { TrackingHooks, TrackingTransport } from './tracking-transport';

/**
 * A tracked dispatch waiting for its receivers; also its publish unit (the driver's tracker): settles
 * that unit, closes the send's tracing scope (if any) and learns how many receivers got the event.
 */
class RemoteWait implements PublishTracker {
  /** Receivers expected: the publish reply (pub/sub) or the groups (streams); undefined until known. */
  expected: number | undefined = undefined;
  /** Named receivers (consumer groups), when known before sending. */
  names: readonly string[] | undefined = undefined;
  /** `reporter\nvia` of each receiver that answered: one string for the first (the common case), a set past it. */
  private answers: string | Set<string> | undefined = undefined;
  /** Copies this bus received of its own publish (pub/sub echo): answered, with nothing to report. */
  own = 0;
  /** When it times out (`Date.now()` ms). */
  readonly deadline: number;
  /** The expected count includes pattern subscriptions (false: counted per node before sending, channels only). */
  patternsCounted = true;
  /** Pattern copies that answered while not counted (see `patternsCounted`). */
  private uncounted = 0;
  /** The traced send's scope, closed once the driver says whether it was sent. */
  scope: OutgoingScope | undefined = undefined;
  private publishReported = false;

  constructor(
    private readonly registry: TrackingRegistry,
    readonly handle: DispatchHandle,
    readonly track: HandleTracking,
    /** The channel the event went out on (pub/sub) or its stream's event name. */
    readonly channel: string,
    readonly timeoutMs: number,
  ) {
    this.deadline = Date.now() + timeoutMs;
  }

  published(error?: unknown, receivers?: number): void {
    if (this.publishReported) return;
    this.publishReported = true;
    if (this.scope !== undefined) this.scope.sent(error);
    if (error !== undefined) this.handle._fail(PUBLISHER, error);
    this.registry.published(this, error, receivers);
    this.handle._release();
  }

  get count(): number {
    const a = this.answers;
    return (a === undefined ? 0 : typeof a === 'string' ? 1 : a.size) + this.own - this.uncounted;
  }

  /** Whether a report for `via` counts toward `expected`. */
  counts(via: string): boolean {
    return this.patternsCounted || via === this.channel;
  }

  hasAnswered(key: string): boolean {
    const a = this.answers;
    return a === undefined ? false : typeof a === 'string' ? a === key : a.has(key);
  }

  answered(key: string, counted: boolean): void {
    if (!counted) this.uncounted++;
    const a = this.answers;
    if (a === undefined) this.answers = key;
    else if (typeof a === 'string') this.answers = new Set([a, key]);
    else a.add(key);
  }

  /** The receivers (`via`) that answered. */
  answeredVia(): string[] {
    const a = this.answers;
    const keys = a === undefined ? [] : typeof a === 'string' ? [a] : [...a];
    return keys.map((key) => key.slice(key.indexOf('\n') + 1));
  }
}

/** Why a report is refused: a counted receive error (never a crash, never another handle's settlement). */
class RefusedReport extends Error {}

function refuse(reason: string): never {
  throw new RefusedReport(`tracking report refused: ${reason}`);
}

/**
 * The tracked dispatches of one bus in flight, by handle id: bounded (`tracking.maxInFlight`),
 * freed when each settles or times out. Takes reports in, checks them (the handle they name must
 * be waiting, the reporter one it can have reached and not heard from yet) and puts their outcomes
 * on the handle.
 */
export class TrackingRegistry implements TrackingHooks {
  private readonly waiting = new Map<string, RemoteWait>();
  /**
   * The same waits by timeout, each set in deadline order (same timeout, dispatched in order): one
   * timer for all of them, armed for the earliest deadline, rather than one per dispatch.
   */
  private readonly byTimeout = new Map<number, Set<RemoteWait>>();
  private timer: NodeJS.Timeout | undefined = undefined;
  private timerAt = Infinity;
  private transport: TrackingTransport | undefined;
  private subscribing: Promise<void> | undefined;
  /** The reports subscription is up: a tracked dispatch need not wait for it. */
  listening = false;

  constructor(
    private readonly maxInFlight: number,
    readonly reportStacks: boolean,
    private readonly recordError: (error: EventError) => void,
    /** What observes the bus now (told about each report's outcomes). */
    private readonly observer: () => BusObserver | undefined = () => undefined,
  ) {}

  get inFlight(): number {
    return this.waiting.size;
  }

  attach(transport: TrackingTransport | undefined): void {
    this.transport = transport;
  }

  get replyTo(): string | undefined {
    return this.transport?.replyTo;
  }

  /** Resolves once this bus receives its reports (subscribes on the first call). */
  ready(): Promise<void> {
    const transport = this.transport!;
    return (this.subscribing ??= transport.listen((raw, channel) => this.receive(raw, channel)).then(
      () => {
        this.listening = true;
      },
      (err: unknown) => {
        this.subscribing = undefined;
        throw err;
      },
    ));
  }

  /** Tracks `handle`'s remote part (one unit of it stays pending until the receivers reported). Throws `TrackingLimitError` when full. */
  begin(handle: DispatchHandle, track: HandleTracking, channel: string, timeoutMs: number): RemoteWait {
    if (this.waiting.size >= this.maxInFlight) throw new TrackingLimitError(this.maxInFlight);
    const wait = new RemoteWait(this, handle, track, channel, timeoutMs);
    handle._pending++;
    this.waiting.set(handle.id, wait);
    let bucket = this.byTimeout.get(timeoutMs);
    if (bucket === undefined) this.byTimeout.set(timeoutMs, (bucket = new Set()));
    bucket.add(wait);
    if (wait.deadline < this.timerAt) this.arm(wait.deadline);
    return wait;
  }

  /** The receivers are named before sending (redis-streams' consumer groups). */
  expectNamed(wait: RemoteWait, names: readonly string[]): void {
    wait.names = names;
    wait.expected = names.length;
    this.settleIfDone(wait);
  }

  /**
   * The exact-channel receivers were counted before sending (classic pub/sub on a cluster): the
   * publish reply is not used, and a pattern's report is taken while the handle waits but not counted.
   */
  expectCount(wait: RemoteWait, receivers: number): void {
    wait.expected = receivers;
    wait.patternsCounted = false;
  }

  /** The event was sent to `receivers` subscriptions, or not sent at all (`error`). */
  published(wait: RemoteWait, error: unknown, receivers: number | undefined): void {
    if (this.waiting.get(wait.handle.id) !== wait) return;
    if (error !== undefined) {
      // The publish unit reports the failure; nobody received anything to report.
      this.finish(wait);
      return;
    }
    if (wait.expected === undefined) wait.expected = receivers ?? 0;
    this.settleIfDone(wait);
  }

  /** Fails it for what could not even be sent (its publish unit reports why). */
  abandon(wait: RemoteWait): void {
    if (this.waiting.get(wait.handle.id) === wait) this.finish(wait);
  }

  ownCopy(handleId: string, viaPattern = false): void {
    const wait = this.waiting.get(handleId);
    // A pattern's copy is no receiver when only channels were counted (classic pub/sub on a cluster).
    if (wait === undefined || (viaPattern && !wait.patternsCounted)) return;
    wait.own++;
    this.settleIfDone(wait);
  }

  /** One raw message on this bus's reports channel: one report, or a batch of them. */
  receive(raw: Buffer | string, channel: string): void {
    let decoded: DecodedReports;
    try {
      decoded = decodeReports(raw, channel);
    } catch (err) {
      this.recordError(new EventError('(tracking report)', SUBSCRIBER, '', err));
      return;
    }
    for (const err of decoded.refused) this.recordError(new EventError('(tracking report)', SUBSCRIBER, '', err));
    const reports = decoded.reports;
    for (let i = 0; i < reports.length; i++) this.take(reports[i], raw, channel);
  }

  private take(report: TrackingReport, raw: Buffer | string, channel: string): void {
    const wait = this.waiting.get(report.handleId);
    // Late (after a timeout) or for a handle this bus never tracked: nothing waits for it.
    if (wait === undefined) return;
    const key = `${report.reporter}\n${report.via}`;
    try {
      this.check(wait, report, key);
    } catch (err) {
      const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
      this.recordError(
        new EventError(report.eventName, SUBSCRIBER, report.handleId, new MessageRejectedError(channel, size, (err as Error).message)),
      );
      return;
    }
    wait.answered(key, wait.counts(report.via));
    const { handle, track } = wait;
    const first = track.outcomes.length;
    for (const o of report.outcomes) {
      if (o.ok) {
        track.outcomes.push({ listener: o.listener, origin: 'remote', ok: true, attempts: o.attempts, durationMs: o.durationMs });
      } else {
        const error = new RemoteListenerError(o.error!.name, o.error!.message, report.reporter, o.error!.stack);
        track.outcomes.push({ listener: o.listener, origin: 'remote', ok: false, error, attempts: o.attempts, durationMs: o.durationMs });
        handle._fail(o.listener, error);
      }
    }
    this.observer()?.remoteOutcomes?.(handle, report.reporter, track.outcomes.slice(first));
    this.settleIfDone(wait);
  }

  private check(wait: RemoteWait, report: TrackingReport, key: string): void {
    if (report.eventName !== wait.handle.eventName)
      refuse(`it names event '${report.eventName}', the handle is '${wait.handle.eventName}'`);
    if (wait.hasAnswered(key)) refuse(`'${report.reporter}' already reported for '${report.via}'`);
    if (wait.names !== undefined) {
      if (!wait.names.includes(report.via)) refuse(`'${report.via}' is not a consumer group of the stream when the event was appended`);
    } else {
      const reachable =
        report.via === wait.channel || ((report.via.match(/\*/g)?.length ?? 0) <= 16 && redisGlobMatches(report.via, wait.channel));
      if (!reachable) refuse(`'${report.via}' is no subscription that receives '${wait.channel}'`);
      if (wait.expected !== undefined && wait.count >= wait.expected && wait.counts(report.via)) refuse('every receiver has already reported');
    }
  }

  private settleIfDone(wait: RemoteWait): void {
    if (wait.expected !== undefined && wait.count >= wait.expected) this.finish(wait);
  }

  private expire(wait: RemoteWait): void {
    if (this.waiting.get(wait.handle.id) !== wait) return;
    const expected = wait.expected ?? wait.count;
    const missing =
      wait.names === undefined
        ? []
        : ((answered) => wait.names!.filter((name) => !answered.includes(name)))(wait.answeredVia());
    wait.handle._fail(PUBLISHER, new RemoteTrackingTimeoutError(wait.timeoutMs, wait.count, expected, missing));
    this.finish(wait);
  }

  private finish(wait: RemoteWait): void {
    const bucket = this.byTimeout.get(wait.timeoutMs);
    if (bucket !== undefined && bucket.delete(wait) && bucket.size === 0) this.byTimeout.delete(wait.timeoutMs);
    this.waiting.delete(wait.handle.id);
    // The timer is not cleared when nothing waits any more: it stops when it fires. Clearing it and
    // arming it again cost a timer per tracked dispatch one at a time.
    wait.handle._release();
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(this.sweep, Math.max(0, at - Date.now()));
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  /** Times out every wait past its deadline, then arms the timer for the next one. */
  private readonly sweep = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const bucket of [...this.byTimeout.values()]) {
      for (const wait of bucket) {
        if (wait.deadline > now) {
          if (wait.deadline < next) next = wait.deadline;
          break;
        }
        this.expire(wait);
      }
    }
    if (next < Infinity && next < this.timerAt) this.arm(next);
  };

  /** The bus is closing: whatever still waits ends as a timeout now (it would never hear more). */
  close(): Promise<void> {
    for (const wait of [...this.waiting.values()]) this.expire(wait);
    this.disarm();
    return this.transport?.close() ?? Promise.resolve();
  }
}

export type { RemoteWait };
