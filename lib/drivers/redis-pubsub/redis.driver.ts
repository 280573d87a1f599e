import type { Cluster, Redis, RedisOptions } from 'ioredis';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import { EventBusClosedError } from '../../errors/event-bus-closed.error';
import { EventError, SUBSCRIBER } from '../../errors/event.error';
import { SubscriberDisconnectedError } from '../../errors/subscriber-disconnected.error';
import type { DeliverFn, DriverContext, DriverHealth, EventBusDriver, PublishTracker } from '../../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../../interfaces/event-envelope.interface';
import type { ResolvedEventBusOptions } from '../../options/resolved-options.interface';
import { connectionName, DEFAULT_CONNECT_TIMEOUT_MS } from '../redis/redis.defaults';
import { ConnectionHealth } from '../redis/shared/connection-health';
import { probeConnections } from '../redis/shared/connection-probe';
import { beforeDeadline, TIMED_OUT } from '../redis/shared/deadline';
import { publishAsPromise } from '../redis/shared/publish-batcher';
import { errorMessage, RedisConnectionFactory, type RedisNodeView } from '../redis/shared/redis-connection';
import { InvalidOptionsError } from '../../errors/invalid-options.error';
import { subscriptionTarget, type RedisSubscriptionTarget } from './channels';
import { PubSubPublisher } from './pubsub-publisher';
import { ClusterSubscriberCount } from '../../tracking/cluster-subscriber-count';
import { RedisReportTransport } from '../../tracking/redis-report-transport';
import { PubSubReceiver, type Subscription } from './pubsub-receiver';

/**
 * Redis pub/sub driver, goevent-compatible: each event is PUBLISHed on `channelPrefix + name`
 * and every subscribed process receives it (broadcast, at-most-once).
 *
 * Two connections: a publisher (see `PubSubPublisher`: publishes are held while Redis is down and
 * fail after `publishTimeoutMs`, never sent late) and a subscriber.
 */
export class RedisDriver implements EventBusDriver {
  readonly delivery = 'broadcast' as const;
  readonly maxEventSize: number;

  private readonly options: ResolvedEventBusOptions['redis'];
  private readonly connections: RedisConnectionFactory;
  private readonly prefix: string;
  private readonly publishTimeoutMs: number;
  /** SPUBLISH/SSUBSCRIBE instead of PUBLISH/SUBSCRIBE (`redis.sharded`). */
  private readonly sharded: boolean;
  private context: DriverContext | undefined;
  /** The publisher connection, with the publishes it holds, writes and times out. */
  private publishing: PubSubPublisher | undefined;
  private subscriber: Redis | undefined;
  private readonly channels = new Map<string, Subscription>();
  private readonly patterns = new Map<string, Subscription>();
  /** Turns what the subscriber connection receives into deliveries. */
  private receiver: PubSubReceiver | undefined;
  /** Reports of tracked dispatches travel on the connections of this driver (see `RedisReportTransport`). */
  tracking: RedisReportTransport | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(options: ResolvedEventBusOptions['redis']) {
    this.options = options;
    this.connections = new RedisConnectionFactory(options);
    this.prefix = options.channelPrefix;
    this.maxEventSize = options.maxEventSize;
    this.publishTimeoutMs = options.publishTimeoutMs;
    this.sharded = options.sharded === true;
  }

  /** The nodes the driver's connections see (health and the event board). */
  nodes(): RedisNodeView[] {
    return this.connections.nodes();
  }

  async init(context: DriverContext): Promise<void> {
    this.context = context;
    this.tracking = new RedisReportTransport(
      this.prefix,
      context.busId,
      () => this.publishing?.client,
      () => Promise.resolve(this.subscriber!),
      () => context.tracking?.reportStacks === true,
    );
    if (this.connections.cluster && !this.sharded) {
      // Classic PUBLISH on a cluster counts one node's subscribers: tracked dispatches count them on every node.
      const counter = new ClusterSubscriberCount(() => this.publishing?.client as Cluster | undefined);
      this.tracking.expectedCount = (channel: string) => counter.count(channel);
    }
    this.receiver = new PubSubReceiver(this.prefix, context, this.tracking, this.channels, this.patterns, () => this.closed);
    const target = this.connections.describeTarget();
    const closing = (): boolean => this.closed;
    const log: DriverContext['log'] = (level, message) => context.log(level, message);
    log('log', `redis driver: connecting to ${target}`);
    try {
      const publisher = (await this.connections.create(connectionName('publisher'), PUBLISHER_OPTIONS)) as Redis;
      // A sharded subscriber on a Cluster keeps one connection per master that owns a subscribed channel.
      const subscriber = (await this.connections.create(connectionName('subscriber'), SUBSCRIBER_OPTIONS, {
        shardedSubscribers: this.sharded,
      })) as Redis;
      const publisherHealth = new ConnectionHealth(publisher, log, { driver: 'redis driver', role: 'publisher', target, closing });
      this.publishing = new PubSubPublisher(publisher, this.prefix, this.publishTimeoutMs, log, this.sharded);
      this.subscriber = subscriber;
      this.receiver.listen(subscriber);
      this.watchDisconnects(subscriber, target);
      const subscriberHealth = new ConnectionHealth(subscriber, log, {
        driver: 'redis driver',
        role: 'subscriber',
        target,
        closing,
        lostNote: 'events published meanwhile are missed (at-most-once)',
        // ioredis resubscribes every confirmed channel and pattern by itself (autoResubscribe).
        backNote: () => `resubscribing ${this.channels.size} channel(s) and ${this.patterns.size} pattern(s)`,
      });
      const timeoutMs = this.options.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
      await Promise.all([publisherHealth.connect(timeoutMs), subscriberHealth.connect(timeoutMs)]);
    } catch (err) {
      // A failed start releases everything now (Nest runs no shutdown hook after a failed init): no
      // reconnect timer, no "lost its connection" line, nothing that keeps the process alive.
      this.closed = true;
      this.publishing?.close();
      await this.connections.closeAll();
      throw new DriverUnavailableError(
        `redis driver: cannot connect to Redis at ${target}: ${errorMessage(err)} ` +
          '(check redis.url / host / port, credentials and TLS settings)',
        err,
      );
    }
  }

  // ---------------------------------------------------------------- publishing

  publish(event: OutgoingEvent): Promise<void> {
    return publishAsPromise(this, event);
  }

  /** What the bus calls: the outcome goes to `tracker`, no promise per event. */
  publishTracked(event: OutgoingEvent, tracker: PublishTracker): void {
    if (this.closed) {
      tracker.published(new EventBusClosedError('the redis driver is closed: event not published'));
      return;
    }
    this.publishing!.publishTracked(event, tracker);
  }

  // ---------------------------------------------------------------- subscribing

  async subscribe(key: string, deliver: DeliverFn): Promise<void> {
    if (this.closed) throw new EventBusClosedError('the redis driver is closed: cannot subscribe');
    const target = subscriptionTarget(this.prefix, key);
    if (this.sharded && target.kind === 'pattern') {
      throw new InvalidOptionsError(
        'redis.sharded',
        `cannot serve the wildcard listener on '${key}': sharded pub/sub has no pattern subscriptions (a pattern spans every shard). ` +
          `List the event names (@OnEvent(['user.created', 'user.deleted'])) or set redis.sharded: false`,
      );
    }
    const table = target.kind === 'channel' ? this.channels : this.patterns;
    let subscription = table.get(target.name);
    if (subscription === undefined) {
      const sub = this.subscriber!;
      // One SSUBSCRIBE per channel: on a cluster the channels of one call must share a slot.
      const request =
        target.kind === 'pattern' ? sub.psubscribe(target.name) : this.sharded ? sub.ssubscribe(target.name) : sub.subscribe(target.name);
      subscription = { target, delivers: new Map(), confirmed: this.confirmed(request, `subscribing to '${target.name}'`) };
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
  private async confirmed(request: Promise<unknown>, what: string): Promise<void> {
    let reply: unknown;
    try {
      reply = await beforeDeadline(request, Date.now() + this.publishTimeoutMs);
    } catch (err) {
      throw new DriverUnavailableError(`redis driver: ${what} failed: ${errorMessage(err)}`, err);
    }
    if (reply === TIMED_OUT) {
      this.context?.log(
        'warn',
        `redis driver: Redis did not confirm ${what} within publishTimeoutMs (${this.publishTimeoutMs} ms); it takes effect when the connection is back`,
      );
    }
  }

  private redisUnsubscribe(target: RedisSubscriptionTarget): Promise<unknown> {
    const sub = this.subscriber!;
    if (target.kind === 'pattern') return sub.punsubscribe(target.name);
    return this.sharded ? sub.sunsubscribe(target.name) : sub.unsubscribe(target.name);
  }

  /**
   * Every time Redis (or the network) closes a subscriber connection that was ready, events are
   * missed until it has resubscribed: that is reported on `errors$` and counted, never only logged.
   * Redis sends no reason when it drops a client, so the first reconnect attempt tells the cases
   * apart: refused means Redis went away (a restart, an outage); accepted means Redis dropped this
   * client while it kept running (client-output-buffer-limit pubsub, CLIENT KILL). A socket error is
   * the reason when there is one.
   */
  private watchDisconnects(client: Redis, target: string): void {
    let state: 'connecting' | 'up' | 'lost' | 'reported' = 'connecting';
    let lastError: Error | undefined;
    const report = (reason: string): void => {
      state = 'reported';
      if (this.closed) return;
      this.context?.reportError(new EventError('*', SUBSCRIBER, '', new SubscriberDisconnectedError(target, reason)));
    };
    client.on('ready', () => {
      if (state === 'lost') {
        report(
          'the connection was closed by Redis while Redis kept running (likely client-output-buffer-limit pubsub: the ' +
            'subscriber fell behind; CLIENT KILL looks the same)',
        );
      }
      state = 'up';
      lastError = undefined;
    });
    client.on('error', (err: Error) => {
      lastError = err;
    });
    client.on('close', () => {
      if (state === 'up') {
        if (lastError !== undefined) report(`the connection failed (${lastError.message})`);
        else state = 'lost';
      } else if (state === 'lost') {
        report(`Redis went away (reconnecting failed: ${lastError?.message ?? 'connection closed'}): restarted, stopped or unreachable`);
      }
      lastError = undefined;
    });
  }

  // ---------------------------------------------------------------- lifecycle

  /** Both connections ready and Redis answering within `timeoutMs` (health checks). */
  health(timeoutMs: number): Promise<DriverHealth> {
    const publisher = this.publishing?.client;
    const connections = new Map([
      ['publisher', publisher],
      ['subscriber', this.subscriber],
    ]);
    if (this.closed) return probeConnections(new Map(), undefined, timeoutMs, 0);
    return probeConnections(connections, publisher, timeoutMs, this.channels.size + this.patterns.size);
  }

  close(): Promise<void> {
    return (this.closing ??= this.doClose());
  }

  private async doClose(): Promise<void> {
    this.closed = true;
    this.publishing?.close();
    const sub = this.subscriber;
    const channels = [...this.channels.keys()];
    const patterns = [...this.patterns.keys()];
    this.channels.clear();
    this.patterns.clear();
    if (sub !== undefined && sub.status === 'ready') {
      const released: Array<Promise<unknown>> = [];
      if (this.sharded) released.push(...channels.map((channel) => sub.sunsubscribe(channel)));
      else if (channels.length > 0) released.push(sub.unsubscribe(...channels));
      if (patterns.length > 0) released.push(sub.punsubscribe(...patterns));
      await this.confirmed(Promise.all(released), 'unsubscribing on close').catch(() => undefined);
    }
    await this.connections.closeAll();
  }
}

/** The publisher holds publishes itself while Redis is down (see `PubSubPublisher`). */
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
