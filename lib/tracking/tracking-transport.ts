import type { ListenerOutcome } from './listener-outcome';

/** The segment after the channel prefix under which reports travel: `<prefix>__reports:v2:<busId>`. */
export const REPORTS_SEGMENT = '__reports:';
/**
 * After `REPORTS_SEGMENT` in the channel of a publisher that reads compact report messages. Older
 * publishers' channels lack it (`<prefix>__reports:<busId>`); they are sent one JSON object per report.
 */
export const COMPACT_MARK = 'v2:';

/** One listener call of a tracked copy, as the receiving bus recorded it. */
export interface OutcomeToReport {
  readonly listener: string;
  readonly ok: boolean;
  readonly error?: unknown;
  readonly attempts: number;
  readonly durationMs: number;
}

/** What a receiving bus reports for one tracked copy (a pub/sub receiver's `TrackedCopy` is one as it is). */
export interface OutgoingReport {
  readonly handleId: string;
  /** The event's name. */
  readonly name: string;
  /** What received the copy: the subscribed channel or pattern, or the consumer group. */
  readonly via: string;
  readonly outcomes: readonly OutcomeToReport[];
}

/**
 * What a redis driver offers for tracking (a capability, like `consumerGroups`): where this bus's
 * reports arrive, and a way to send a report to another bus.
 */
export interface TrackingTransport {
  /** The channel prefix the reports channel lives under. */
  readonly prefix: string;
  /** The pub/sub channel of this bus's reports, written into each tracked envelope as `reply_to`. */
  readonly replyTo: string;
  /** Starts receiving this bus's reports (once, on the first tracked dispatch); resolves once subscribed. */
  listen(onReport: (raw: Buffer, channel: string) => void): Promise<void>;
  /** Sends one report; never throws (a report that cannot be sent is dropped: the publisher times out). */
  send(replyTo: string, report: OutgoingReport): void;
  /**
   * The receivers a tracked event must hear from, known before it is sent (redis-streams: the
   * consumer groups of its stream), synchronously when the driver has them at hand. Absent: the
   * driver's publish reply counts them (redis pub/sub).
   */
  expectedReporters?(eventName: string): readonly string[] | Promise<readonly string[]>;
  /**
   * How many subscriptions a tracked publish on `channel` reaches, asked before it is sent, when the
   * publish reply cannot say (classic pub/sub on a Redis Cluster counts one node's subscribers only).
   * Only exact-channel subscriptions are counted then: a pattern's report is taken while the handle
   * still waits, not waited for.
   */
  expectedCount?(channel: string): Promise<number>;
  close(): Promise<void>;
}

/** What the bus gives a driver for tracking (on `DriverContext.tracking`). */
export interface TrackingHooks {
  /** Tracked dispatches of this bus still waiting: a driver looks for its own tracked echoes only while > 0. */
  readonly inFlight: number;
  /** This bus received its own copy of a tracked event it published (it counts as answered). */
  ownCopy(handleId: string, viaPattern?: boolean): void;
  /** The receiving app sends listener stacks in its reports (`tracking.reportStacks`). */
  readonly reportStacks: boolean;
}

/** Where a receiving bus collects the outcomes of one tracked copy (set on `IncomingEvent.sink`). */
export interface TrackingSink {
  readonly outcomes: ListenerOutcome[];
  /** The bus ran nothing for it (closing): no report is sent, the publisher times out. */
  dropped: boolean;
}
