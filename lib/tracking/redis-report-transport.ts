import type { Cluster, Redis } from 'ioredis';
import { CompactReportBatch, JsonReportBatch, type ReportBatch } from './report-batch';
import { BATCH_BYTES } from './report-codec';
import { COMPACT_MARK, type OutgoingReport, REPORTS_SEGMENT, type TrackingTransport } from './tracking-transport';

/**
 * Tracking reports over Redis pub/sub, for both redis drivers: this bus's reports arrive on
 * `<prefix>__reports:v2:<busId>` (subscribed on its first tracked dispatch); a report is one PUBLISH
 * on the publisher's channel, so one for a bus that has gone reaches nobody and is dropped by Redis.
 * The reports of one tick for one publisher travel as one message (a batch): in the compact format
 * when the publisher's channel has the `v2:` mark, else (an older publisher) as JSON objects.
 */
export class RedisReportTransport implements TrackingTransport {
  readonly replyTo: string;
  /** Set by the pub/sub driver on a classic cluster (see `TrackingTransport.expectedCount`). */
  expectedCount?: (channel: string) => Promise<number>;
  private readonly reportsPrefix: string;
  private readonly compactPrefix: string;

  constructor(
    readonly prefix: string,
    private readonly busId: string,
    /** The connection reports are sent on (a non-subscriber one); undefined while there is none. */
    private readonly sender: () => Redis | Cluster | undefined,
    /** The subscriber connection this bus's reports are received on (opened on first use). */
    private readonly subscriber: () => Promise<Redis>,
    /** The receiving app sends listener stacks (`tracking.reportStacks`). */
    private readonly withStacks: () => boolean = () => false,
  ) {
    this.reportsPrefix = prefix + REPORTS_SEGMENT;
    this.compactPrefix = this.reportsPrefix + COMPACT_MARK;
    this.replyTo = this.compactPrefix + busId;
  }

  async listen(onReport: (raw: Buffer, channel: string) => void): Promise<void> {
    const sub = await this.subscriber();
    const channel = this.replyTo;
    sub.on('messageBuffer', (from: Buffer, message: Buffer) => {
      if (from.length === Buffer.byteLength(channel) && from.toString() === channel) onReport(message, channel);
    });
    await sub.subscribe(channel);
  }

  send(replyTo: string, report: OutgoingReport): void {
    // Only to a reports channel under this prefix: a forged envelope cannot make a receiver publish elsewhere.
    if (!replyTo.startsWith(this.reportsPrefix)) return;
    let batch = this.open.get(replyTo);
    if (batch === undefined || batch.length >= BATCH_BYTES) {
      if (batch !== undefined) this.full.push(replyTo, batch.finish());
      // A publisher whose channel carries the mark reads the compact format; an older one one object per report.
      batch = replyTo.startsWith(this.compactPrefix)
        ? new CompactReportBatch(this.busId, this.withStacks())
        : new JsonReportBatch(this.busId, this.withStacks());
      this.open.set(replyTo, batch);
    }
    batch.add(report);
    if (batch.count >= EARLY_FLUSH_REPORTS) {
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

  /** The message being filled for each publisher (by its reports channel) this tick. */
  private open = new Map<string, ReportBatch>();
  /** Messages already full this tick: channel, message, channel, message… */
  private full: string[] = [];
  private flushScheduled = false;
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.open.size === 0) return;
    const messages = this.full;
    for (const [channel, batch] of this.open) messages.push(channel, batch.finish());
    this.open = new Map();
    this.full = [];
    const client = this.sender();
    // Not connected: dropped (the publishers time out); a report is never worth holding.
    if (client === undefined || client.status !== 'ready') return;
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
const REPLY_TO = Buffer.from('"reply_to":');
const HANDLE_ID = Buffer.from('"handle_id":"');
