import type { Cluster, Redis } from 'ioredis';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import type { DriverContext, PublishTracker } from '../../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../../interfaces/event-envelope.interface';
import { errorMessage, isCluster, resetConnection } from '../redis/shared/redis-connection';
import { batchError, scriptEnd, type BatchScript } from '../redis/shared/batch-script';
import { keySlot } from '../redis/shared/key-slot';
import { PublishBatcher } from '../redis/shared/publish-batcher';
import { publishBatchScript } from './publish-script';

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

/** Below this many settled publishes at the front, the queue is not compacted (a copy per few events). */
const COMPACT_AFTER = 1024;

/**
 * The pub/sub driver's publishing connection. It has no ioredis offline queue and never resends
 * unanswered commands: while Redis is down it holds publishes itself, sends them when the
 * connection is back, and fails each one with `DriverUnavailableError` once `publishTimeoutMs` has
 * passed since it was dispatched — a failed publish is never sent later. One that was written but not
 * confirmed may still have been delivered once: the server may have read it before it stalled or the
 * connection dropped, and no client can take it back (at-most-once).
 */
export class PubSubPublisher {
  /**
   * Publishes not yet confirmed, in deadline order (every one has the same timeout), from `head` on;
   * settled ones are skipped and dropped from the front. An array, not a Set: a Set grows, rehashes
   * and deletes per event, a third of the publisher's own time when 100,000 are in flight.
   */
  private queue: PendingPublish[] = [];
  private head = 0;
  private unsettled = 0;
  /** The channel of the last event name published (`prefix + name` once, not per event). */
  private lastName = '';
  private lastChannel = '';
  private readonly batcher: PublishBatcher<PendingPublish>;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly perCommand: boolean;
  /** A single connection (not a cluster): a batch leaves as one script (or corked commands, in one syscall). */
  private readonly socket: Redis | undefined;
  private readonly script: BatchScript;

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
    this.socket = isCluster(client) ? undefined : (client as Redis);
    this.batcher = new PublishBatcher(this.write, () => this.client.status === 'ready', false);
    this.script = publishBatchScript(sharded, (reason) =>
      log(
        'warn',
        `redis driver: Redis refused EVAL (${reason}); publishing one command per event from now on, which costs more CPU per event`,
      ),
    );
    client.on('ready', () => this.batcher.flush());
    client.on('close', () => this.failUnconfirmed());
  }

  publishTracked(event: OutgoingEvent, tracker: PublishTracker): void {
    const name = event.name;
    if (name !== this.lastName) {
      this.lastChannel = this.prefix + name;
      this.lastName = name;
    }
    const publish: PendingPublish = {
      channel: this.lastChannel,
      payload: event.payload,
      deadline: Date.now() + this.publishTimeoutMs,
      state: 'waiting',
      tracker,
    };
    this.queue.push(publish);
    this.unsettled++;
    if (this.deadlineTimer === undefined) this.armDeadline(this.publishTimeoutMs);
    this.batcher.add(publish);
  }

  /** Fails everything not confirmed yet (the driver is closing). */
  close(): void {
    this.disarmDeadline();
    for (const publish of this.unsettledPublishes()) {
      const outcome =
        publish.state === 'sent' ? UNCONFIRMED_NOTE : 'It was not sent and will not be sent later; other processes do not get it.';
      this.settle(
        publish,
        new DriverUnavailableError(`redis driver: closed before Redis confirmed the PUBLISH on '${publish.channel}'. ${outcome}`),
      );
    }
    this.batcher.clear();
  }

  /**
   * Writes a batch, in dispatch order. On one connection: one script per batch (see BatchScript), or,
   * where Redis refuses scripts, plain commands with the socket corked so the batch leaves in one write
   * (a third less CPU per event than ioredis's pipeline(), which adds two promises and a result array
   * per command). On a cluster: a pipeline, one per master for SPUBLISH.
   */
  private readonly write = (queued: PendingPublish[]): void => {
    const batch = queued.filter((p) => p.state === 'waiting');
    if (batch.length === 0) return;
    if (this.perCommand && batch.length > 1) return this.writePerMaster(batch);
    const socket = this.socket;
    if (batch.length === 1 || socket !== undefined) {
      // Uncorked even if a command throws: a corked socket would hold every later write.
      const stream = batch.length > 1 ? socket?.stream : undefined;
      stream?.cork();
      try {
        if (stream !== undefined && this.script.usable) this.writeScripts(socket!, batch);
        else for (const publish of batch) this.send(publish);
      } finally {
        stream?.uncork();
      }
      return;
    }
    this.writePipeline(batch);
  };

  /** The batch as scripts of at most MAX_SCRIPT_BATCH_CHARS of payload each (one alone if larger). */
  private writeScripts(socket: Redis, batch: PendingPublish[]): void {
    const charsAt = (i: number): number => batch[i].payload.length;
    for (let from = 0; from < batch.length;) {
      const to = scriptEnd(from, batch.length, charsAt);
      this.writeScript(socket, batch, from, to);
      from = to;
    }
  }

  private writeScript(socket: Redis, batch: PendingPublish[], from: number, to: number): void {
    const part = from === 0 && to === batch.length ? batch : batch.slice(from, to);
    const args: Array<string | number> = [];
    let runCount = -1;
    let channel: string | undefined;
    for (const publish of part) {
      publish.state = 'sent';
      if (publish.channel !== channel) {
        channel = publish.channel;
        args.push(channel, 0);
        runCount = args.length - 1;
      }
      args.push(publish.payload);
      (args[runCount] as number)++;
    }
    let reply: Promise<unknown>;
    try {
      reply = this.script.run(socket, args);
    } catch (err) {
      for (const publish of part) this.published(publish, err);
      return;
    }
    reply.then(
      (replies) => {
        const list = Array.isArray(replies) ? replies : [];
        for (let i = 0; i < part.length; i++) {
          const failed = batchError(list[i]);
          if (failed === undefined) this.published(part[i], undefined, list[i]);
          else this.published(part[i], failed, undefined, true);
        }
      },
      (err: unknown) => {
        if (this.script.refusedScripts(err)) {
          // The script never ran: the batch goes again as plain commands.
          for (const publish of part) publish.state = 'waiting';
          this.write(part);
          return;
        }
        for (const publish of part) this.published(publish, err);
      },
    );
  }

  /**
   * SPUBLISHes on a cluster: each channel's shard is the master of its slot, so the batch leaves as
   * one pipeline per master (by the client's slot map; a stale one gets MOVED and fails those
   * publishes, never resends them).
   */
  private writePerMaster(batch: PendingPublish[]): void {
    const slots = (this.client as Cluster).slots;
    const byMaster = new Map<string, PendingPublish[]>();
    for (const publish of batch) {
      const master = slots[keySlot(publish.channel)]?.[0] ?? '';
      const group = byMaster.get(master);
      if (group === undefined) byMaster.set(master, [publish]);
      else group.push(publish);
    }
    for (const [master, group] of byMaster) {
      // A slot with no known master yet: one command each, routed (and refreshed) by the client.
      if (group.length === 1 || master === '') for (const publish of group) this.send(publish);
      else this.writePipeline(group);
    }
  }

  private writePipeline(batch: PendingPublish[]): void {
    // A pipeline of our own rather than ioredis auto-pipelining: auto-pipelining waits for the previous
    // batch's replies, which never come when a connection dies with commands in flight.
    const pipeline = this.client.pipeline();
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
  }

  /** One command; its outcome settles the publish. The one closure per event lives here, off the loop above. */
  private send(publish: PendingPublish): void {
    publish.state = 'sent';
    const client = this.client;
    let reply: Promise<unknown>;
    try {
      reply = this.sharded ? client.spublish(publish.channel, publish.payload) : client.publish(publish.channel, publish.payload);
    } catch (err) {
      // This may run inside dispatch(): a throw is this publish's failure, never the caller's exception.
      this.published(publish, err);
      return;
    }
    reply.then(
      (receivers) => this.published(publish, undefined, receivers),
      (err: unknown) => this.published(publish, err),
    );
  }

  /** The outcome of one written publish; `refusedByRedis`: `err` is Redis's answer to it (from a batch script). */
  private published(publish: PendingPublish, err: unknown, receivers?: unknown, refusedByRedis = false): void {
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
    const refused = refusedByRedis || (err instanceof Error && err.name === 'ReplyError');
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
    if (--this.unsettled === 0) {
      // The deadline timer stays armed: when it fires with nothing in flight it just stops. Clearing it
      // here and arming it again on the next publish cost a timer per event one at a time.
      this.queue = [];
      this.head = 0;
    } else {
      this.dropSettledFront();
    }
    // PUBLISH's reply (subscriptions that got it) only matters to tracked dispatches.
    if (receivers === undefined) publish.tracker.published(error);
    else publish.tracker.published(error, receivers);
  }

  /** Written but unconfirmed publishes are not resent (autoResendUnfulfilledCommands: false): fail them now. */
  private failUnconfirmed(): void {
    for (const publish of this.unsettledPublishes()) {
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
    for (const publish of this.unsettledPublishes()) {
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
    const next = this.unsettled > 0 ? this.queue[this.head] : undefined;
    if (next !== undefined) this.armDeadline(next.deadline - now);
  }

  /** The publishes not settled yet, oldest first: a copy, so settling while iterating is safe. */
  private unsettledPublishes(): PendingPublish[] {
    const open: PendingPublish[] = [];
    for (let i = this.head; i < this.queue.length; i++) if (this.queue[i].state !== 'done') open.push(this.queue[i]);
    return open;
  }

  /** Moves `head` past settled publishes; drops them from the array once they are most of it. */
  private dropSettledFront(): void {
    const queue = this.queue;
    let head = this.head;
    while (head < queue.length && queue[head].state === 'done') head++;
    if (head >= COMPACT_AFTER && head * 2 >= queue.length) {
      this.queue = queue.slice(head);
      head = 0;
    }
    this.head = head;
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
