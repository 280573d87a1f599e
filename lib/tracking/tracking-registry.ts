import type { BusObserver } from '../core/bus-observer';
import type { DispatchHandle } from '../dispatch/dispatch-handle';
import { EventError, PUBLISHER, SUBSCRIBER } from '../errors/event.error';
import { MessageRejectedError } from '../errors/message-rejected.error';
import { RemoteListenerError } from '../errors/remote-listener.error';
import { RemoteTrackingTimeoutError } from '../errors/remote-tracking-timeout.error';
import { TrackingLimitError } from '../errors/tracking-limit.error';
import { HandleTracking } from './handle-tracking';
import { redisGlobMatches } from './redis-glob';
import { decodeReport, type TrackingReport } from './report-codec';
import type { TrackingHooks, TrackingTransport } from './tracking-transport';

/** A tracked dispatch waiting for its receivers. */
class RemoteWait {
  /** Receivers expected: the publish reply (pub/sub) or the groups (streams); undefined until known. */
  expected: number | undefined = undefined;
  /** Named receivers (consumer groups), when known before sending. */
  names: readonly string[] | undefined = undefined;
  readonly answered = new Set<string>();
  /** Copies this bus received of its own publish (pub/sub echo): answered, with nothing to report. */
  own = 0;
  timer: NodeJS.Timeout | undefined = undefined;

  constructor(
    readonly handle: DispatchHandle,
    readonly track: HandleTracking,
    /** The channel the event went out on (pub/sub) or its stream's event name. */
    readonly channel: string,
    readonly timeoutMs: number,
  ) {}

  get count(): number {
    return this.answered.size + this.own;
  }
}

/** Why a report is refused: a counted receive error (never a crash, never another handle's settlement). */
class RefusedReport extends Error {}

/**
 * The tracked dispatches of one bus in flight, by handle id: bounded (`tracking.maxInFlight`),
 * freed when each settles or times out. Takes reports in, checks them (the handle they name must
 * be waiting, the reporter one it can have reached and not heard from yet) and puts their outcomes
 * on the handle.
 */
export class TrackingRegistry implements TrackingHooks {
  private readonly waiting = new Map<string, RemoteWait>();
  private transport: TrackingTransport | undefined;
  private listening: Promise<void> | undefined;

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
    return (this.listening ??= transport
      .listen((raw, channel) => this.receive(raw, channel))
      .catch((err: unknown) => {
        this.listening = undefined;
        throw err;
      }));
  }

  /** Tracks `handle`'s remote part (one unit of it stays pending until the receivers reported). Throws `TrackingLimitError` when full. */
  begin(handle: DispatchHandle, track: HandleTracking, channel: string, timeoutMs: number): RemoteWait {
    if (this.waiting.size >= this.maxInFlight) throw new TrackingLimitError(this.maxInFlight);
    const wait = new RemoteWait(handle, track, channel, timeoutMs);
    handle._pending++;
    this.waiting.set(handle.id, wait);
    wait.timer = setTimeout(() => this.expire(wait), timeoutMs);
    return wait;
  }

  /** The receivers are named before sending (redis-streams' consumer groups). */
  expectNamed(wait: RemoteWait, names: readonly string[]): void {
    wait.names = names;
    wait.expected = names.length;
    this.settleIfDone(wait);
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

  ownCopy(handleId: string): void {
    const wait = this.waiting.get(handleId);
    if (wait === undefined) return;
    wait.own++;
    this.settleIfDone(wait);
  }

  /** One raw message on this bus's reports channel. */
  receive(raw: Buffer | string, channel: string): void {
    let report: TrackingReport;
    try {
      report = decodeReport(raw, channel);
    } catch (err) {
      this.recordError(new EventError('(tracking report)', SUBSCRIBER, '', err));
      return;
    }
    const wait = this.waiting.get(report.handleId);
    // Late (after a timeout) or for a handle this bus never tracked: nothing waits for it.
    if (wait === undefined) return;
    try {
      this.check(wait, report);
    } catch (err) {
      const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
      this.recordError(
        new EventError(report.eventName, SUBSCRIBER, report.handleId, new MessageRejectedError(channel, size, (err as Error).message)),
      );
      return;
    }
    wait.answered.add(`${report.reporter}\n${report.via}`);
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

  private check(wait: RemoteWait, report: TrackingReport): void {
    const refuse = (reason: string): never => {
      throw new RefusedReport(`tracking report refused: ${reason}`);
    };
    if (report.eventName !== wait.handle.eventName)
      refuse(`it names event '${report.eventName}', the handle is '${wait.handle.eventName}'`);
    if (wait.answered.has(`${report.reporter}\n${report.via}`)) refuse(`'${report.reporter}' already reported for '${report.via}'`);
    if (wait.names !== undefined) {
      if (!wait.names.includes(report.via)) refuse(`'${report.via}' is not a consumer group of the stream when the event was appended`);
    } else {
      const reachable =
        report.via === wait.channel || ((report.via.match(/\*/g)?.length ?? 0) <= 16 && redisGlobMatches(report.via, wait.channel));
      if (!reachable) refuse(`'${report.via}' is no subscription that receives '${wait.channel}'`);
      if (wait.expected !== undefined && wait.count >= wait.expected) refuse('every receiver has already reported');
    }
  }

  private settleIfDone(wait: RemoteWait): void {
    if (wait.expected !== undefined && wait.count >= wait.expected) this.finish(wait);
  }

  private expire(wait: RemoteWait): void {
    if (this.waiting.get(wait.handle.id) !== wait) return;
    wait.timer = undefined;
    const expected = wait.expected ?? wait.count;
    const missing =
      wait.names === undefined ? [] : wait.names.filter((name) => ![...wait.answered].some((key) => key.endsWith(`\n${name}`)));
    wait.handle._fail(PUBLISHER, new RemoteTrackingTimeoutError(wait.timeoutMs, wait.count, expected, missing));
    this.finish(wait);
  }

  private finish(wait: RemoteWait): void {
    if (wait.timer !== undefined) clearTimeout(wait.timer);
    wait.timer = undefined;
    this.waiting.delete(wait.handle.id);
    wait.handle._release();
  }

  /** The bus is closing: whatever still waits ends as a timeout now (it would never hear more). */
  close(): Promise<void> {
    for (const wait of [...this.waiting.values()]) this.expire(wait);
    return this.transport?.close() ?? Promise.resolve();
  }
}

export type { RemoteWait };
