import type { Cluster, Redis } from 'ioredis';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import type { DriverContext, PublishTracker } from '../../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../../interfaces/event-envelope.interface';
import { errorMessage, isCluster, resetConnection } from '../redis/shared/redis-connection';
import { PublishBatcher } from '../redis/shared/publish-batcher';

/** ioredis's rejection for a command it did not write because the connection is down. */
const NOT_WRITTEN = "Stream isn't writeable";

/**
 * What a caller must know about a publish that was written but never confirmed: Redis may have read it
 * before the connection failed or stalled, so "failed" means "not confirmed", not "not delivered".
 */
export const UNCONFIRMED_NOTE = 'It is not resent; it may still have been delivered once (at-most-once).';

/** A publish waiting for Redis: queued while the connection is down, then written, then confirmed. */
interface PendingPublish {
  readonly channel: string;
  readonly payload: string;
  readonly deadline: number;
  /** `waiting`: not written yet, safe to send later within the deadline; `sent`: on the wire. */
  state: 'waiting' | 'sent' | 'done';
  readonly tracker: PublishTracker;
}

/**
 * The pub/sub driver's publishing connection. It has no ioredis offline queue and never resends
 * unanswered commands: while Redis is down it holds publishes itself, sends them when the
 * connection is back, and fails each one with `DriverUnavailableError` once `publishTimeoutMs` has
 * passed since it was dispatched — a failed publish is never sent later. One that was written but not
 * confirmed may still have been delivered once: the server may have read it before it stalled or the
 * connection dropped, and no client can take it back (at-most-once).
 */
export class PubSubPublisher {
  /** Publishes not yet confirmed, in deadline order (every one has the same timeout). */
  private readonly pending = new Set<PendingPublish>();
  private readonly batcher: PublishBatcher<PendingPublish>;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly perCommand: boolean;

  constructor(
    readonly client: Redis | Cluster,
    private readonly prefix: string,
    private readonly publishTimeoutMs: number,
    private readonly log: DriverContext['log'],
    /** SPUBLISH (sharded pub/sub) instead of PUBLISH. */
    private readonly sharded = false,
  ) {
    // On a cluster SPUBLISHes of different channels go to different masters: no shared pipeline.
    this.perCommand = sharded && isCluster(client);
    this.batcher = new PublishBatcher(this.write, () => this.client.status === 'ready', false);
    client.on('ready', () => this.batcher.flush());
    client.on('close', () => this.failUnconfirmed());
  }

  publishTracked(event: OutgoingEvent, tracker: PublishTracker): void {
    const publish: PendingPublish = {
      channel: this.prefix + event.name,
      payload: event.payload,
      deadline: Date.now() + this.publishTimeoutMs,
      state: 'waiting',
      tracker,
    };
    this.pending.add(publish);
    if (this.deadlineTimer === undefined) this.armDeadline(this.publishTimeoutMs);
    this.batcher.add(publish);
  }

  /** Fails everything not confirmed yet (the driver is closing). */
  close(): void {
    this.disarmDeadline();
    for (const publish of this.pending) {
      const outcome =
        publish.state === 'sent' ? UNCONFIRMED_NOTE : 'It was not sent and will not be sent later; other processes do not get it.';
      this.settle(
        publish,
        new DriverUnavailableError(`redis driver: closed before Redis confirmed the PUBLISH on '${publish.channel}'. ${outcome}`),
      );
    }
    this.batcher.clear();
  }

  /** Writes a batch, in dispatch order: a plain command for one, a pipeline for more. */
  private readonly write = (queued: PendingPublish[]): void => {
    const batch = queued.filter((p) => p.state === 'waiting');
    if (batch.length === 0) return;
    const publisher = this.client;
    if (batch.length === 1 || this.perCommand) {
      // One event (one-at-a-time dispatch): a plain command; a pipeline of one costs ~10 µs more CPU.
      for (const publish of batch) {
        publish.state = 'sent';
        (this.sharded ? publisher.spublish(publish.channel, publish.payload) : publisher.publish(publish.channel, publish.payload)).then(
          (receivers) => this.published(publish, undefined, receivers),
          (err: unknown) => this.published(publish, err),
        );
      }
      return;
    }
    // A pipeline of our own rather than ioredis auto-pipelining: auto-pipelining waits for the previous
    // batch's replies, which never come when a connection dies with commands in flight.
    const pipeline = publisher.pipeline();
    for (const publish of batch) {
      publish.state = 'sent';
      if (this.sharded) pipeline.spublish(publish.channel, publish.payload);
      else pipeline.publish(publish.channel, publish.payload);
    }
    pipeline.exec().then(
      (results) => {
        for (let i = 0; i < batch.length; i++) this.published(batch[i], results?.[i]?.[0] ?? undefined, results?.[i]?.[1]);
      },
      (err: unknown) => {
        for (const publish of batch) this.published(publish, err);
      },
    );
  };

  /** The outcome of one written publish. */
  private published(publish: PendingPublish, err: unknown, receivers?: unknown): void {
    if (publish.state !== 'sent') return;
    if (err === undefined || err === null) {
      this.settle(publish, undefined, typeof receivers === 'number' ? receivers : undefined);
      return;
    }
    if (errorMessage(err).startsWith(NOT_WRITTEN)) {
      // The connection dropped before the write: nothing left the process, so it may wait for it.
      publish.state = 'waiting';
      this.batcher.add(publish);
      return;
    }
    // Written, then failed without a reply from Redis (the connection dropped, a MaxRetriesPerRequest…): the
    // server may have read it. A reply that is a Redis error (NOPERM, say) means it was refused, not delivered.
    const refused = err instanceof Error && err.name === 'ReplyError';
    this.settle(
      publish,
      new DriverUnavailableError(
        `redis driver: PUBLISH to '${publish.channel}' failed: ${errorMessage(err)}${refused ? '' : `. ${UNCONFIRMED_NOTE}`}`,
        err,
      ),
    );
  }

  private settle(publish: PendingPublish, error?: Error, receivers?: number): void {
    if (publish.state === 'done') return;
    publish.state = 'done';
    this.pending.delete(publish);
    if (this.pending.size === 0) this.disarmDeadline();
    // PUBLISH's reply (subscriptions that got it) only matters to tracked dispatches.
    if (receivers === undefined) publish.tracker.published(error);
    else publish.tracker.published(error, receivers);
  }

  /** Written but unconfirmed publishes are not resent (autoResendUnfulfilledCommands: false): fail them now. */
  private failUnconfirmed(): void {
    for (const publish of this.pending) {
      if (publish.state === 'sent') {
        this.settle(
          publish,
          new DriverUnavailableError(
            `redis driver: the PUBLISH on '${publish.channel}' was not confirmed: the connection to Redis closed ` +
              `before Redis answered (within publishTimeoutMs, ${this.publishTimeoutMs} ms). ${UNCONFIRMED_NOTE}`,
          ),
        );
      }
    }
  }

  private armDeadline(delayMs: number): void {
    this.deadlineTimer = setTimeout(() => this.expire(), Math.max(0, delayMs));
  }

  private disarmDeadline(): void {
    if (this.deadlineTimer !== undefined) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  /** Fails every publish past its deadline; one timer serves them all. */
  private expire(): void {
    this.deadlineTimer = undefined;
    const now = Date.now();
    let unanswered = 0;
    for (const publish of this.pending) {
      if (publish.deadline > now) break;
      if (publish.state === 'sent') unanswered++;
      this.settle(publish, this.timeoutError(publish));
    }
    if (unanswered > 0 && this.client.status === 'ready') {
      // Written but unanswered: reset the connection so bytes still in our socket are dropped,
      // never sent after the dispatch was reported failed.
      this.log('warn', `redis driver: ${unanswered} publish(es) got no reply within publishTimeoutMs; resetting the publisher connection`);
      resetConnection(this.client);
    }
    this.batcher.retain((p) => p.state === 'waiting');
    const next = this.pending.values().next();
    if (!next.done) this.armDeadline(next.value.deadline - now);
  }

  private timeoutError(publish: PendingPublish): DriverUnavailableError {
    const limit = `within publishTimeoutMs (${this.publishTimeoutMs} ms)`;
    if (publish.state === 'sent') {
      return new DriverUnavailableError(
        `redis driver: the PUBLISH on '${publish.channel}' was not confirmed ${limit}. ${UNCONFIRMED_NOTE}`,
      );
    }
    return new DriverUnavailableError(
      `redis driver: Redis is unreachable (connection ${this.client.status}): the event on '${publish.channel}' ` +
        `was not sent ${limit} and will not be sent later; other processes do not get it`,
    );
  }
}
