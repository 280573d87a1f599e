import type { Redis } from 'ioredis';
import { EventError, SUBSCRIBER } from '../../errors/event.error';
import { MessageRejectedError } from '../../errors/message-rejected.error';
import { DELIVERED, type DeliverFn, type DriverContext } from '../../interfaces/event-bus-driver.interface';
import type { IncomingEvent } from '../../interfaces/event-envelope.interface';
import type { RedisReportTransport } from '../../tracking/redis-report-transport';
import { trackedEchoHandleId } from '../../tracking/redis-report-transport';
import { TrackedCopy } from '../../tracking/tracked-copy';
import { REPORTS_SEGMENT } from '../../tracking/tracking-transport';
import { errorMessage } from '../redis/shared/redis-connection';
import type { RedisSubscriptionTarget } from './channels';

/** The delivery callbacks of one Redis subscription (a glob can serve `user.*` and `user.**`). */
export interface Subscription {
  readonly target: RedisSubscriptionTarget;
  readonly delivers: Map<string, DeliverFn>;
  /** Settles when Redis confirmed the SUBSCRIBE / PSUBSCRIBE. */
  readonly confirmed: Promise<void>;
}

/**
 * What the subscriber connection receives, turned into deliveries: the bus's own echo is dropped
 * before decoding, a message is decoded once however many of the connection's subscriptions match it,
 * a rejected one is reported once, and a tracked copy's outcomes go back to its publisher.
 */
export class PubSubReceiver {
  /** `prefix + '__reports:'`: channels a pattern may match that carry reports, not events. */
  private readonly reportsPrefix: string;
  /** The end of every message this bus publishes (`..."origin":"<busId>"}`), to drop its echo before decoding. */
  private readonly echoTail: Buffer;
  /**
   * The last message decoded. Redis sends one copy of a publish per matching subscription of the
   * connection, back to back (a channel and a pattern, or two patterns): the copies reuse one decode.
   * Fields, not an object per message: most messages match one subscription.
   */
  private lastChannel: string | undefined = undefined;
  private lastMessage: Buffer | undefined = undefined;
  private lastIncoming: IncomingEvent | undefined = undefined;
  private readonly lastSeen: Subscription[] = [];

  constructor(
    private readonly prefix: string,
    private readonly context: DriverContext,
    private readonly tracking: RedisReportTransport,
    /** Subscriptions by channel name and by glob; the driver adds and removes them. */
    private readonly channels: ReadonlyMap<string, Subscription>,
    private readonly patterns: ReadonlyMap<string, Subscription>,
    private readonly closed: () => boolean,
  ) {
    this.reportsPrefix = prefix + REPORTS_SEGMENT;
    this.echoTail = Buffer.from(`"origin":${JSON.stringify(context.busId)}}`);
  }

  listen(client: Redis): void {
    client.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString();
      const subscription = this.channels.get(name);
      if (subscription !== undefined) this.receive(subscription, name, message);
    });
    client.on('smessageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString();
      const subscription = this.channels.get(name);
      if (subscription !== undefined) this.receive(subscription, name, message);
    });
    client.on('pmessageBuffer', (pattern: string | Buffer, channel: Buffer, message: Buffer) => {
      const subscription = this.patterns.get(pattern.toString());
      if (subscription === undefined) return;
      const name = channel.toString();
      // A `**` listener's glob matches the reports channels too: those are no events.
      if (!name.startsWith(this.reportsPrefix)) this.receive(subscription, name, message);
    });
  }

  /** One received message: drop the bus's own echo, decode safely, hand it to the bus. */
  private receive(subscription: Subscription, channel: string, message: Buffer): void {
    if (this.closed()) return;
    const context = this.context;
    if (this.isOwnEcho(message)) {
      // Our own echo: a tracked one is a copy Redis counted in the PUBLISH reply, answered by us.
      if (context.tracking !== undefined && context.tracking.inFlight > 0) {
        const handleId = trackedEchoHandleId(message);
        if (handleId !== undefined) context.tracking.ownCopy(handleId, subscription.target.kind === 'pattern');
      }
      return;
    }
    let incoming: IncomingEvent | undefined;
    const seen = this.lastSeen;
    if (this.lastChannel === channel && !seen.includes(subscription) && this.lastMessage!.equals(message)) {
      // Another copy of the same publish, for another subscription.
      seen.push(subscription);
      incoming = this.lastIncoming;
    } else {
      incoming = undefined;
      try {
        incoming = context.decode(message, channel);
      } catch (err) {
        const name = channel.startsWith(this.prefix) ? channel.slice(this.prefix.length) : channel;
        const cause = err instanceof MessageRejectedError ? err : new MessageRejectedError(channel, message.length, errorMessage(err));
        context.reportError(new EventError(name, SUBSCRIBER, '', cause));
      }
      this.lastChannel = channel;
      this.lastMessage = message;
      this.lastIncoming = incoming;
      seen.length = 0;
      seen.push(subscription);
    }
    if (incoming === undefined || incoming.origin === context.busId) return;
    if (incoming.replyTo !== undefined) return this.receiveTracked(subscription, incoming);
    for (const deliver of subscription.delivers.values()) {
      try {
        // Finished already (sync listeners): no reaction to attach. The closure lives in `watch`, off this loop.
        const delivered = deliver(incoming);
        if (delivered !== DELIVERED) this.watch(delivered, incoming);
      } catch (err) {
        context.reportError(new EventError(incoming.name, SUBSCRIBER, incoming.handleId, err));
      }
    }
  }

  /** A delivery still running: its failure is reported, never an unhandled rejection. */
  private watch(delivered: Promise<void>, incoming: IncomingEvent): void {
    delivered.catch((err: unknown) => this.context.reportError(new EventError(incoming.name, SUBSCRIBER, incoming.handleId, err)));
  }

  /**
   * Whether `message` ends with this bus's `"origin":"<busId>"}`. Compared from the end in JS: another
   * bus's message differs within a byte or two of the end, sooner than a native compare is called.
   */
  private isOwnEcho(message: Buffer): boolean {
    const tail = this.echoTail;
    const offset = message.length - tail.length;
    if (offset < 0) return false;
    for (let i = tail.length - 1; i >= 0; i--) if (message[offset + i] !== tail[i]) return false;
    return true;
  }

  /** A tracked copy: run its listeners like any other, then report their outcomes (possibly none) to the publisher. */
  private receiveTracked(subscription: Subscription, incoming: IncomingEvent): void {
    new TrackedCopy(incoming, subscription.target.name, this.reportCopy, this.copyFailed).deliverTo(subscription.delivers.values());
  }

  private readonly reportCopy = (copy: TrackedCopy): void => {
    if (copy.dropped || this.closed()) return;
    this.tracking.send(copy.replyTo!, copy);
  };

  private readonly copyFailed = (copy: TrackedCopy, err: unknown): void => {
    this.context.reportError(new EventError(copy.name, SUBSCRIBER, copy.handleId, err));
  };
}
