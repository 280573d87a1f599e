import type { Redis, RedisOptions } from 'ioredis';
import type { Socket } from 'node:net';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import { EventBusClosedError } from '../../errors/event-bus-closed.error';
import { EventError, SUBSCRIBER } from '../../errors/event.error';
import { MessageRejectedError } from '../../errors/message-rejected.error';
import type { DeliverFn, DriverContext, EventBusDriver, PublishTracker } from '../../interfaces/event-bus-driver.interface';
import type { IncomingEvent, OutgoingEvent } from '../../interfaces/event-envelope.interface';
import type { ResolvedEventBusOptions } from '../../options/resolved-options.interface';
import { RedisConnectionFactory } from '../redis/shared/redis-connection';
import { subscriptionTarget, type RedisSubscriptionTarget } from './channels';
import { resetSocket } from '../redis/shared/socket-reset';

/** ioredis's default connectTimeout; start-up waits this long for both connections to be ready. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** ioredis's rejection for a command it did not write because the connection is down. */
const NOT_WRITTEN = "Stream isn't writeable";
/**
 * Publishes per pipeline at most: a dispatch loop of 100,000 events in one tick goes out in
 * pipelines of this size as it runs, so Redis and the receivers start work while the loop is still
 * dispatching (one pipeline of everything at the end of the tick halved end-to-end throughput).
 */
const MAX_PIPELINE = 1000;

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
 * The last message decoded. Redis sends one copy of a publish per matching subscription of the
 * connection, back to back (a channel and a pattern, or two patterns): the copies reuse one decode,
 * and a rejected message is reported once, not once per copy.
 */
interface LastMessage {
  readonly channel: string;
  readonly message: Buffer;
  readonly seen: Set<Subscription>;
  readonly incoming: IncomingEvent | undefined;
}

/** The delivery callbacks of one Redis subscription (a glob can serve `user.*` and `user.**`). */
interface Subscription {
  readonly target: RedisSubscriptionTarget;
  readonly delivers: Map<string, DeliverFn>;
  /** Settles when Redis confirmed the SUBSCRIBE / PSUBSCRIBE (see `confirmed()`). */
  readonly confirmed: Promise<void>;
}

/**
 * Redis pub/sub driver, goevent-compatible: each event is PUBLISHed on `channelPrefix + name`
 * and every subscribed process receives it (broadcast, at-most-once).
 *
 * Two connections: a publisher and a subscriber. The publisher has no ioredis offline queue and
 * never resends unanswered commands: while Redis is down the driver holds publishes itself,
 * sends them when the connection is back, and fails each one with `DriverUnavailableError` once
 * `publishTimeoutMs` has passed since it was dispatched — the driver never sends a failed publish.
 */
export class RedisDriver implements EventBusDriver {
  readonly delivery = 'broadcast' as const;
  readonly maxEventSize: number;

  private readonly options: ResolvedEventBusOptions['redis'];
  private readonly connections: RedisConnectionFactory;
  private readonly prefix: string;
  private readonly publishTimeoutMs: number;
  private context: DriverContext | undefined;
  private publisher: Redis | undefined;
  private subscriber: Redis | undefined;
  /** Publishes not yet confirmed, in deadline order (every one has the same timeout). */
  private readonly pending = new Set<PendingPublish>();
  /** Publishes waiting for the connection, in dispatch order. */
  private waiting: PendingPublish[] = [];
  private deadlineTimer: NodeJS.Timeout | undefined;
  private readonly channels = new Map<string, Subscription>();
  private readonly patterns = new Map<string, Subscription>();
  /** The end of every message this bus publishes (`..."origin":"<busId>"}`), to drop its echo before decoding. */
  private echoTail: Buffer | undefined;
  private last: LastMessage | undefined;
  private flushScheduled = false;
  private closed = false;
  private closing: Promise<void> | undefined;
  private publisherDown = false;
  private subscriberDown = false;

  constructor(options: ResolvedEventBusOptions['redis']) {
    this.options = options;
    this.connections = new RedisConnectionFactory(options);
    this.prefix = options.channelPrefix;
    this.maxEventSize = options.maxEventSize;
    this.publishTimeoutMs = options.publishTimeoutMs;
  }

  async init(context: DriverContext): Promise<void> {
    this.context = context;
    this.echoTail = Buffer.from(`"origin":${JSON.stringify(context.busId)}}`);
    try {
      this.publisher = (await this.connections.create('nestjs-event-bus:publisher', PUBLISHER_OPTIONS)) as Redis;
      this.subscriber = (await this.connections.create('nestjs-event-bus:subscriber', SUBSCRIBER_OPTIONS)) as Redis;
      this.watchPublisher(this.publisher);
      this.watchSubscriber(this.subscriber);
      await readyWithin(
        Promise.all([connect(this.publisher), connect(this.subscriber)]),
        this.options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS,
      );
    } catch (err) {
      await this.connections.closeAll();
      throw new DriverUnavailableError(
        `redis driver: cannot connect to Redis at ${this.describeTarget()}: ${errorMessage(err)} ` +
          '(check redis.url / host / port, credentials and TLS settings)',
        err,
      );
    }
  }

  // ---------------------------------------------------------------- publishing

  publish(event: OutgoingEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.publishTracked(event, { published: (error?: unknown) => (error === undefined ? resolve() : reject(error)) });
    });
  }

  /** What the bus calls: the outcome goes to `tracker`, no promise per event. */
  publishTracked(event: OutgoingEvent, tracker: PublishTracker): void {
    if (this.closed) {
      tracker.published(new EventBusClosedError('the redis driver is closed: event not published'));
      return;
    }
    const publish: PendingPublish = {
      channel: this.prefix + event.name,
      payload: event.payload,
      deadline: Date.now() + this.publishTimeoutMs,
      state: 'waiting',
      tracker,
    };
    this.pending.add(publish);
    if (this.deadlineTimer === undefined) this.armDeadline(this.publishTimeoutMs);
    this.enqueue(publish);
  }

  /**
   * Queues a publish; while connected, everything queued in one tick goes out as one pipeline
   * (one write, no round trip per event).
   */
  private enqueue(publish: PendingPublish): void {
    this.waiting.push(publish);
    if (this.waiting.length >= MAX_PIPELINE && this.publisher!.status === 'ready') {
      this.flushWaiting();
      return;
    }
    if (!this.flushScheduled && this.publisher!.status === 'ready') {
      this.flushScheduled = true;
      queueMicrotask(this.flushWaiting);
    }
  }

  /** Writes what waits, in dispatch order, when the connection is up (on its `ready` too). */
  private readonly flushWaiting = (): void => {
    this.flushScheduled = false;
    const publisher = this.publisher;
    if (publisher === undefined || publisher.status !== 'ready' || this.waiting.length === 0) return;
    const batch = this.waiting.filter((p) => p.state === 'waiting');
    this.waiting = [];
    if (batch.length === 0) return;
    if (batch.length === 1) {
      // One event (one-at-a-time dispatch): a plain command; a pipeline of one costs ~10 µs more CPU.
      const publish = batch[0];
      publish.state = 'sent';
      publisher.publish(publish.channel, publish.payload).then(
        () => this.published(publish, undefined),
        (err: unknown) => this.published(publish, err),
      );
      return;
    }
    // A pipeline of our own rather than ioredis auto-pipelining: auto-pipelining waits for the previous
    // batch's replies, which never come when a connection dies with commands in flight.
    const pipeline = publisher.pipeline();
    for (const publish of batch) {
      publish.state = 'sent';
      pipeline.publish(publish.channel, publish.payload);
    }
    pipeline.exec().then(
      (results) => {
        for (let i = 0; i < batch.length; i++) this.published(batch[i], results?.[i]?.[0] ?? undefined);
      },
      (err: unknown) => {
        for (const publish of batch) this.published(publish, err);
      },
    );
  };

  /** The outcome of one written publish. */
  private published(publish: PendingPublish, err: unknown): void {
    if (publish.state !== 'sent') return;
    if (err === undefined || err === null) {
      this.settle(publish);
      return;
    }
    if (errorMessage(err).startsWith(NOT_WRITTEN)) {
      // The connection dropped before the write: nothing left the process, so it may wait for it.
      publish.state = 'waiting';
      this.enqueue(publish);
      return;
    }
    this.settle(publish, new DriverUnavailableError(`redis driver: PUBLISH to '${publish.channel}' failed: ${errorMessage(err)}`, err));
  }

  private settle(publish: PendingPublish, error?: Error): void {
    if (publish.state === 'done') return;
    publish.state = 'done';
    this.pending.delete(publish);
    if (this.pending.size === 0) this.disarmDeadline();
    publish.tracker.published(error);
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
    if (unanswered > 0 && this.publisher?.status === 'ready') {
      // Written but unanswered: reset the connection so bytes still in our socket are dropped,
      // never sent after the dispatch was reported failed.
      this.context?.log(
        'warn',
        `redis driver: ${unanswered} publish(es) got no reply within publishTimeoutMs; resetting the publisher connection`,
      );
      resetConnection(this.publisher);
    }
    if (this.waiting.length > 0) this.waiting = this.waiting.filter((p) => p.state === 'waiting');
    const next = this.pending.values().next();
    if (!next.done) this.armDeadline(next.value.deadline - now);
  }

  private timeoutError(publish: PendingPublish): DriverUnavailableError {
    const limit = `within publishTimeoutMs (${this.publishTimeoutMs} ms)`;
    if (publish.state === 'sent') {
      return new DriverUnavailableError(
        `redis driver: Redis did not confirm the PUBLISH on '${publish.channel}' ${limit}; ` +
          'it is not sent again (a stalled server that already read it may still deliver it, at most once)',
      );
    }
    return new DriverUnavailableError(
      `redis driver: Redis is unreachable (connection ${this.publisher?.status ?? 'closed'}): the event on '${publish.channel}' ` +
        `was not sent ${limit} and will not be sent later; other processes do not get it`,
    );
  }

  private watchPublisher(client: Redis): void {
    client.on('ready', () => {
      if (this.publisherDown) this.context?.log('log', `redis driver: publisher reconnected to ${this.describeTarget()}`);
      this.publisherDown = false;
      this.flushWaiting();
    });
    client.on('close', () => {
      if (!this.closed && !this.publisherDown)
        this.context?.log('warn', `redis driver: publisher lost its connection to ${this.describeTarget()}; reconnecting`);
      this.publisherDown = true;
      // Written but unconfirmed publishes are not resent (autoResendUnfulfilledCommands: false): fail them now.
      for (const publish of this.pending) {
        if (publish.state === 'sent') {
          this.settle(
            publish,
            new DriverUnavailableError(
              `redis driver: the connection to Redis closed before it confirmed the PUBLISH on '${publish.channel}'; ` +
                'the event will not be resent (at-most-once)',
            ),
          );
        }
      }
    });
    client.on('error', (err: unknown) => this.connectionError('publisher', err));
  }

  // ---------------------------------------------------------------- subscribing

  async subscribe(key: string, deliver: DeliverFn): Promise<void> {
    if (this.closed) throw new EventBusClosedError('the redis driver is closed: cannot subscribe');
    const target = subscriptionTarget(this.prefix, key);
    const table = target.kind === 'channel' ? this.channels : this.patterns;
    let subscription = table.get(target.name);
    if (subscription === undefined) {
      const command = target.kind === 'channel' ? this.subscriber!.subscribe(target.name) : this.subscriber!.psubscribe(target.name);
      subscription = { target, delivers: new Map(), confirmed: this.confirmed(command, `subscribing to '${target.name}'`) };
      table.set(target.name, subscription);
    }
    // Routes first, so a message that arrives right after the confirmation is delivered.
    subscription.delivers.set(key, deliver);
    try {
      await subscription.confirmed;
    } catch (err) {
      // Redis refused it (an ACL without this channel, say): nothing is subscribed.
      subscription.delivers.delete(key);
      if (subscription.delivers.size === 0 && table.get(target.name) === subscription) table.delete(target.name);
      throw err;
    }
  }

  async unsubscribe(key: string): Promise<void> {
    const target = subscriptionTarget(this.prefix, key);
    const table = target.kind === 'channel' ? this.channels : this.patterns;
    const subscription = table.get(target.name);
    if (subscription === undefined || !subscription.delivers.delete(key)) return;
    if (subscription.delivers.size > 0) return;
    table.delete(target.name);
    if (this.closed) return;
    await this.confirmed(this.redisUnsubscribe(target), `unsubscribing from '${target.name}'`);
  }

  /**
   * Waits for Redis to confirm a (un)subscription. A refusal rejects. While Redis is down the
   * command stays queued on the subscriber connection and takes effect when it reconnects; after
   * `publishTimeoutMs` this resolves with a warning, so registering a listener or shutting down
   * never waits for Redis indefinitely.
   */
  private confirmed(command: Promise<unknown>, what: string): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.context?.log(
          'warn',
          `redis driver: Redis did not confirm ${what} within publishTimeoutMs (${this.publishTimeoutMs} ms); it takes effect when the connection is back`,
        );
        resolve();
      }, this.publishTimeoutMs);
      command.then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(new DriverUnavailableError(`redis driver: ${what} failed: ${errorMessage(err)}`, err));
        },
      );
    });
  }

  private redisUnsubscribe(target: RedisSubscriptionTarget): Promise<unknown> {
    const sub = this.subscriber!;
    return target.kind === 'channel' ? sub.unsubscribe(target.name) : sub.punsubscribe(target.name);
  }

  private watchSubscriber(client: Redis): void {
    client.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const name = channel.toString();
      const subscription = this.channels.get(name);
      if (subscription !== undefined) this.receive(subscription, name, message);
    });
    client.on('pmessageBuffer', (pattern: string | Buffer, channel: Buffer, message: Buffer) => {
      const subscription = this.patterns.get(pattern.toString());
      if (subscription !== undefined) this.receive(subscription, channel.toString(), message);
    });
    client.on('ready', () => {
      // ioredis resubscribes every confirmed channel and pattern by itself (autoResubscribe).
      if (this.subscriberDown) {
        this.context?.log(
          'log',
          `redis driver: subscriber reconnected; resubscribing ${this.channels.size} channel(s) and ${this.patterns.size} pattern(s)`,
        );
      }
      this.subscriberDown = false;
    });
    client.on('close', () => {
      if (!this.closed && !this.subscriberDown) {
        this.context?.log(
          'warn',
          `redis driver: subscriber lost its connection to ${this.describeTarget()}; events published meanwhile are missed (at-most-once)`,
        );
      }
      this.subscriberDown = true;
    });
    client.on('error', (err: unknown) => this.connectionError('subscriber', err));
  }

  /** One received message: drop the bus's own echo, decode safely, hand it to the bus. */
  private receive(subscription: Subscription, channel: string, message: Buffer): void {
    if (this.closed) return;
    const tail = this.echoTail!;
    if (message.length >= tail.length && tail.compare(message, message.length - tail.length) === 0) return;
    const context = this.context!;
    let incoming: IncomingEvent | undefined;
    const last = this.last;
    if (last !== undefined && last.channel === channel && !last.seen.has(subscription) && last.message.equals(message)) {
      // Another copy of the same publish, for another subscription.
      last.seen.add(subscription);
      incoming = last.incoming;
    } else {
      try {
        incoming = context.decode(message, channel);
      } catch (err) {
        const name = channel.startsWith(this.prefix) ? channel.slice(this.prefix.length) : channel;
        const cause = err instanceof MessageRejectedError ? err : new MessageRejectedError(channel, message.length, errorMessage(err));
        context.reportError(new EventError(name, SUBSCRIBER, '', cause));
      }
      this.last = { channel, message, seen: new Set([subscription]), incoming };
    }
    if (incoming === undefined || incoming.origin === context.busId) return;
    for (const deliver of subscription.delivers.values()) {
      try {
        deliver(incoming).catch((err: unknown) => context.reportError(new EventError(incoming.name, SUBSCRIBER, incoming.handleId, err)));
      } catch (err) {
        context.reportError(new EventError(incoming.name, SUBSCRIBER, incoming.handleId, err));
      }
    }
  }

  // ---------------------------------------------------------------- lifecycle

  close(): Promise<void> {
    return (this.closing ??= this.doClose());
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.disarmDeadline();
    for (const publish of this.pending) {
      this.settle(
        publish,
        new DriverUnavailableError(`redis driver: closed before Redis confirmed the PUBLISH on '${publish.channel}'; not sent`),
      );
    }
    this.waiting = [];
    const sub = this.subscriber;
    const channels = [...this.channels.keys()];
    const patterns = [...this.patterns.keys()];
    this.channels.clear();
    this.patterns.clear();
    if (sub !== undefined && sub.status === 'ready') {
      const released: Array<Promise<unknown>> = [];
      if (channels.length > 0) released.push(sub.unsubscribe(...channels));
      if (patterns.length > 0) released.push(sub.punsubscribe(...patterns));
      await this.confirmed(Promise.all(released), 'unsubscribing on close').catch(() => undefined);
    }
    await this.connections.closeAll();
  }

  // ---------------------------------------------------------------- helpers

  private connectionError(role: string, err: unknown): void {
    // Connection errors come with every reconnect attempt; the close/ready logs tell the story.
    this.context?.log('debug', `redis driver: ${role} connection error: ${errorMessage(err)}`);
  }

  /** Where we connect, without credentials. */
  private describeTarget(): string {
    const { url, host, port } = this.options;
    if (this.options.client !== undefined) return 'the given client';
    if (url !== undefined) {
      try {
        const parsed = new URL(url);
        return `${parsed.protocol}//${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
      } catch {
        return 'redis.url';
      }
    }
    return `${host ?? '127.0.0.1'}:${port ?? 6379}`;
  }
}

/** The publisher holds publishes itself while Redis is down (see the class comment). */
const PUBLISHER_OPTIONS: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  autoResendUnfulfilledCommands: false,
  enableAutoPipelining: false,
};

/** The subscriber keeps ioredis's queue (however long the outage) so a SUBSCRIBE made during an outage goes out on reconnect. */
const SUBSCRIBER_OPTIONS: RedisOptions = {
  lazyConnect: true,
  autoResubscribe: true,
  enableOfflineQueue: true,
  maxRetriesPerRequest: null,
};

/** Start-up must not hang on a server that accepts the connection but never answers. */
async function readyWithin(connecting: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not ready within connectTimeout (${ms} ms)`)), ms);
  });
  try {
    await Promise.race([connecting, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function connect(client: Redis): Promise<void> {
  if (client.status === 'ready') return;
  if (client.status === 'wait') {
    await client.connect();
    return;
  }
  // A duplicate of a user's client may already be connecting.
  await new Promise<void>((resolve, reject) => {
    const onReady = (): void => {
      client.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      client.off('ready', onReady);
      reject(new Error('connection closed before it was ready'));
    };
    client.once('ready', onReady);
    client.once('close', onClose);
  });
}

/** Resets the connection's socket (see `resetSocket`); with no socket, drops the client's connection. */
function resetConnection(client: Redis): void {
  const stream = (client as unknown as { stream?: Socket }).stream;
  if (stream !== undefined) resetSocket(stream);
  else client.disconnect(true);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
