import type { Cluster, Redis } from 'ioredis';
import { BATCH_BYTES, encodeReportBatch } from './report-codec';
import { REPORTS_SEGMENT, type TrackingTransport } from './tracking-transport';

/**
 * Tracking reports over Redis pub/sub, for both redis drivers: this bus's reports arrive on
 * `<prefix>__reports:<busId>` (subscribed on its first tracked dispatch); a report is one PUBLISH
 * on the publisher's channel, so one for a bus that has gone reaches nobody and is dropped by Redis.
 * The reports of one tick for one publisher travel as one message (a batch).
 */
export class RedisReportTransport implements TrackingTransport {
  readonly replyTo: string;
  /** Set by the pub/sub driver on a classic cluster (see `TrackingTransport.expectedCount`). */
  expectedCount?: (channel: string) => Promise<number>;

  constructor(
    readonly prefix: string,
    busId: string,
    /** The connection reports are sent on (a non-subscriber one); undefined while there is none. */
    private readonly sender: () => Redis | Cluster | undefined,
    /** The subscriber connection this bus's reports are received on (opened on first use). */
    private readonly subscriber: () => Promise<Redis>,
  ) {
    this.replyTo = prefix + REPORTS_SEGMENT + busId;
  }

  async listen(onReport: (raw: Buffer, channel: string) => void): Promise<void> {
    const sub = await this.subscriber();
    const channel = this.replyTo;
    sub.on('messageBuffer', (from: Buffer, message: Buffer) => {
      if (from.length === Buffer.byteLength(channel) && from.toString() === channel) onReport(message, channel);
    });
    await sub.subscribe(channel);
  }

  send(replyTo: string, report: string): void {
    // Only to a reports channel under this prefix: a forged envelope cannot make a receiver publish elsewhere.
    if (!replyTo.startsWith(this.prefix + REPORTS_SEGMENT)) return;
    const list = this.queued.get(replyTo);
    if (list === undefined) this.queued.set(replyTo, [report]);
    else if (list.push(report) >= EARLY_FLUSH_REPORTS) {
      // Mid-read: the publisher starts on these while this process works through the rest.
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After the reports of the messages read with this one: one message per publisher for all of them.
      void RESOLVED.then(this.flush);
    }
  }

  /** Reports waiting for this tick's write, by the publisher's reports channel. */
  private queued = new Map<string, string[]>();
  private flushScheduled = false;
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const queued = this.queued;
    if (queued.size === 0) return;
    this.queued = new Map();
    const client = this.sender();
    // Not connected: dropped (the publishers time out); a report is never worth holding.
    if (client === undefined || client.status !== 'ready') return;
    const messages: string[] = [];
    for (const [channel, reports] of queued) {
      // Each publisher's reports of this tick in one message (as few as the size bound allows).
      let from = 0;
      let bytes = 0;
      for (let i = 0; i < reports.length; i++) {
        if (i > from && (bytes + reports[i].length > BATCH_BYTES || i - from >= MAX_REPORTS_PER_MESSAGE)) {
          messages.push(channel, encodeReportBatch(reports.slice(from, i)));
          from = i;
          bytes = 0;
        }
        bytes += reports[i].length + 1;
      }
      messages.push(channel, from === 0 ? encodeReportBatch(reports) : encodeReportBatch(reports.slice(from)));
    }
    if (messages.length === 2) {
      client.publish(messages[0], messages[1]).catch(() => undefined);
      return;
    }
    const pipeline = client.pipeline();
    for (let i = 0; i < messages.length; i += 2) pipeline.publish(messages[i], messages[i + 1]);
    pipeline.exec().catch(() => undefined);
  };

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The handle id of this bus's own tracked envelope, read without decoding it (its echo is dropped
 * undecoded); undefined when the message is not tracked. The envelope's own fields follow its data,
 * so the last occurrence is theirs.
 */
export function trackedEchoHandleId(message: Buffer): string | undefined {
  if (message.lastIndexOf(REPLY_TO) < 0) return undefined;
  const at = message.lastIndexOf(HANDLE_ID);
  if (at < 0) return undefined;
  const start = at + HANDLE_ID.length;
  return message.toString('latin1', start, start + 16);
}

const RESOLVED: Promise<void> = Promise.resolve();
/**
 * A publisher's reports are sent once this many wait, not only at the end of the tick. One socket
 * read can hold hundreds of tracked copies; answering them all in one message at the end lets the
 * publisher sit idle while this process works, and then this one while the publisher does (measured
 * with 256 tracked dispatches in flight: a quarter more round trips per second at 100 than at 500).
 */
const EARLY_FLUSH_REPORTS = 100;
/** Reports in one message at most (the publisher accepts up to 1,000). */
const MAX_REPORTS_PER_MESSAGE = 500;
const REPLY_TO = Buffer.from('"reply_to":');
const HANDLE_ID = Buffer.from('"handle_id":"');
