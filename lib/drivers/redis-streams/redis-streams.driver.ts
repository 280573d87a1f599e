import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import { EventBusClosedError } from '../../errors/event-bus-closed.error';
import { InvalidOptionsError } from '../../errors/invalid-options.error';
import type {
  DeliverFn,
  DriverContext,
  DriverHealth,
  DriverListener,
  EventBusDriver,
  PublishTracker,
} from '../../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../../interfaces/event-envelope.interface';
import type { ResolvedEventBusOptions } from '../../options/resolved-options.interface';
import { isPattern } from '../../routing/event-pattern';
import { connectionName, DEFAULT_CONNECT_TIMEOUT_MS, STREAMS_DEFAULTS } from '../redis/redis.defaults';
import { ConnectionHealth } from '../redis/shared/connection-health';
import { probeConnections } from '../redis/shared/connection-probe';
import { beforeDeadline, TIMED_OUT } from '../redis/shared/deadline';
import { publishAsPromise } from '../redis/shared/publish-batcher';
import { errorMessage, RedisConnectionFactory, type RedisClient, type RedisNodeView } from '../redis/shared/redis-connection';
import { StreamConsumer, type StreamConsumerSettings } from './consumer/stream-consumer';
import { StreamReadConnections } from './consumer/stream-read-connections';
import { ensureGroup, groupOf } from './consumer-group';
import { StreamGroupInspector } from './consumer-group-inspector';
import { deadLetterKey, DeadLetterStream } from './dead-letter-stream';
import { StreamCommands } from './stream-commands';
import { ReplicatedAppender } from './replicated-appender';
import { StreamPublisher } from './stream-publisher';
import { GroupCache } from '../../tracking/group-cache';
import { RedisReportTransport } from '../../tracking/redis-report-transport';
import type { Redis } from 'ioredis';

/**
 * Durable driver on Redis Streams: one stream per event name, one consumer group per listener,
 * at-least-once delivery with retries, reclaiming and dead letters.
 *
 * Connections: one command connection (appends, acks, claims, dead letters; the user's client if
 * one was passed) and, once the app has a listener, three reading connections shared by all of them
 * (see StreamReadConnections): four per app, or per cluster master it reads from, whatever the
 * number of listeners and event names.
 */
export class RedisStreamsDriver implements EventBusDriver {
  readonly delivery = 'durable' as const;
  readonly maxEventSize: number;
  /** This replica's consumer name in every group. */
  readonly consumerName: string;
  /** The dead-letter streams of this service's listeners (`DeadLetterService` reads them). */
  readonly deadLetters: DeadLetterStream;
  readonly consumerGroups: StreamGroupInspector;
  /** Reports of tracked dispatches: sent on the command connection, received on a subscriber opened on first use. */
  tracking: (RedisReportTransport & { expectedReporters(eventName: string): readonly string[] | Promise<readonly string[]> }) | undefined;
  private readonly groupCache = new GroupCache(async (eventName) => (await this.consumerGroups.groups([eventName])).map((g) => g.group));
  private reportsSubscriber: Promise<Redis> | undefined;

  private readonly connections: RedisConnectionFactory;
  private readonly publisher: StreamPublisher;
  /** Appends confirmed by replicas (`streams.waitReplicas` > 0), on a connection of their own. */
  private readonly replicated: ReplicatedAppender | undefined;
  private replicatedConnection: Promise<RedisClient> | undefined;
  private context: DriverContext | undefined;
  /** The command connection being opened, or open (see `openCommands()`). */
  private commandsOpening: Promise<StreamCommands> | undefined;
  /** The command connection once open (appends are written at once when it is ready). */
  private commands: StreamCommands | undefined;
  private readonly consumers = new Map<string, StreamConsumer>();
  /** The connections every consumer reads on, opened with the first listener. */
  private readonly readers: StreamReadConnections;
  /** Subscriptions being set up (group creation in progress). */
  private readonly reserved = new Set<string>();
  private closing: Promise<void> | undefined;
  /** Connections closed: none may be opened again (it would keep the process alive). */
  private released = false;

  constructor(private readonly options: ResolvedEventBusOptions) {
    this.connections = new RedisConnectionFactory(options.redis);
    this.maxEventSize = options.redis.maxEventSize;
    this.consumerName = options.streams.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.publisher = new StreamPublisher({
      commands: () => this.openCommands(),
      openCommands: () => this.commands,
      streamKey: (eventName) => this.streamKey(eventName),
      maxLen: options.streams.maxLen ?? STREAMS_DEFAULTS.maxLen,
      publishTimeoutMs: options.redis.publishTimeoutMs,
      log: (level, message) => this.context?.log(level, message),
    });
    const waitReplicas = options.streams.waitReplicas ?? 0;
    this.replicated =
      waitReplicas > 0
        ? new ReplicatedAppender({
            connection: () => this.openReplicatedConnection(),
            streamKey: (eventName) => this.streamKey(eventName),
            maxLen: options.streams.maxLen ?? STREAMS_DEFAULTS.maxLen,
            publishTimeoutMs: options.redis.publishTimeoutMs,
            waitReplicas,
          })
        : undefined;
    this.readers = new StreamReadConnections({
      connections: this.connections,
      log: (level, message) => this.context?.log(level, message),
      blockMs: options.streams.blockMs ?? STREAMS_DEFAULTS.blockMs,
      prefix: options.redis.channelPrefix,
      closing: () => this.closing !== undefined,
    });
    this.consumerGroups = new StreamGroupInspector(
      { commands: () => this.openCommands(), streamKey: (eventName) => this.streamKey(eventName) },
      options.streams.group,
    );
    this.deadLetters = new DeadLetterStream({
      commands: () => this.openCommands(),
      streamKey: (eventName) => this.streamKey(eventName),
      groupOf: (listenerName) => groupOf(options.streams.group, listenerName),
      serviceGroup: options.streams.group,
      consumerOf: (streamKey, group) => this.consumers.get(`${streamKey}\n${group}`),
    });
  }

  async init(context: DriverContext): Promise<void> {
    this.context = context;
    const transport = new RedisReportTransport(
      this.options.redis.channelPrefix,
      context.busId,
      () => this.commands?.client,
      () => (this.reportsSubscriber ??= this.openReportsSubscriber()),
      () => context.tracking?.reportStacks === true,
    );
    // The listeners reached by a tracked append: the stream's consumer groups at append time.
    this.tracking = Object.assign(transport, { expectedReporters: (eventName: string) => this.groupCache.groups(eventName) });
    const target = this.connections.describeTarget();
    context.log('log', `redis-streams driver: connecting to ${target}`);
    // Connect now, so the first dispatches find the connection ready and are written as they come, and
    // an unreachable Redis fails start-up within connectTimeout with its cause (as on the pub/sub
    // driver), not 20 s later as a consumer group that could not be created. A client of the user's
    // made with lazyConnect is left to connect on first use.
    const timeoutMs = this.options.redis.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
    try {
      const commands = await this.openCommands();
      if (commands.client.status !== 'wait') await commands.health.connect(timeoutMs);
    } catch (err) {
      // Nest runs no shutdown hook after a failed init: release everything now.
      this.released = true;
      await this.connections.closeAll();
      throw new DriverUnavailableError(
        `redis-streams driver: cannot connect to Redis at ${target}: ${errorMessage(err)} ` +
          '(check redis.url / host / port, credentials and TLS settings)',
        err,
      );
    }
  }

  /**
   * The waited appends' connection, opened on first use: fail-fast (no offline queue, nothing resent,
   * no failover retries), since a WAIT blocks its connection and an append must never go out late.
   */
  private openReplicatedConnection(): Promise<RedisClient> {
    if (this.context === undefined || this.released)
      return Promise.reject(new EventBusClosedError('the redis-streams driver is not running'));
    const context = this.context;
    return (this.replicatedConnection ??= this.connections
      .create(connectionName('streams-replicated'), {
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
      })
      .then(async (client) => {
        const health = new ConnectionHealth(client, (level, message) => context.log(level, message), {
          driver: 'redis-streams driver',
          role: 'replicated-append connection',
          target: this.connections.describeTarget(),
          closing: () => this.closing !== undefined,
        });
        await health.connect(this.options.redis.publishTimeoutMs).catch(() => undefined);
        return client;
      }));
  }

  /** The command connection, opened on first use (an app that fails start-up early opens none). */
  private openCommands(): Promise<StreamCommands> {
    if (this.context === undefined)
      return Promise.reject(new EventBusClosedError('the redis-streams driver is not started (the app is not initialised)'));
    if (this.released) return Promise.reject(new EventBusClosedError('the redis-streams driver is closed (the app was closed)'));
    const context = this.context;
    // Our own connection never resends an append that was in flight when it dropped: a dispatch
    // reported as failed is then not appended later. A client you pass in keeps its settings.
    // On a Cluster the driver always uses a connection of its own (a duplicate of yours), made to fail
    // fast during a failover: ioredis's defaults would retry an unanswered append on the new master.
    const cluster = this.connections.cluster;
    const owned = this.options.redis.client === undefined || cluster;
    const name = connectionName('streams');
    const open = (): Promise<RedisClient> =>
      owned
        ? this.connections.create(
            name,
            cluster ? { autoResendUnfulfilledCommands: false, enableOfflineQueue: false } : { autoResendUnfulfilledCommands: false },
          )
        : this.connections.commandClient(name);
    return (this.commandsOpening ??= open().then((client) => {
      if (this.released) {
        // close() ran while this connection was being made: it must not keep the process alive.
        if (owned) client.disconnect();
        throw new EventBusClosedError('the redis-streams driver is closed (the app was closed)');
      }
      const commands = new StreamCommands(
        client,
        this.options.redis.publishTimeoutMs,
        owned,
        (level, message) => context.log(level, message),
        this.connections.describeTarget(),
        () => this.released,
      );
      this.commands = commands;
      return commands;
    }));
  }

  private async openReportsSubscriber(): Promise<Redis> {
    if (this.released || this.closing !== undefined) throw new EventBusClosedError('the redis-streams driver is closed');
    const client = (await this.connections.create(connectionName('tracking-reports'), {
      autoResubscribe: true,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
    })) as Redis;
    client.on('error', () => undefined);
    return client;
  }

  /**
   * The stream key of an event: `channelPrefix + name`, and on a cluster `channelPrefix + '{' + name + '}'`,
   * so the stream and its dead-letter stream (`key + ':dlq'`) share a hash slot (one transaction
   * dead-letters an entry) while the streams of different events spread over the shards.
   */
  streamKey(eventName: string): string {
    return this.connections.cluster ? `${this.options.redis.channelPrefix}{${eventName}}` : this.options.redis.channelPrefix + eventName;
  }

  /** The nodes the driver's connections see (health and the event board). */
  nodes(): RedisNodeView[] {
    return this.connections.nodes();
  }

  // ---------------------------------------------------------------- publishing

  /** Queued and sent with every other append of this tick in one pipeline; settles when Redis confirmed it. */
  publish(event: OutgoingEvent): Promise<void> {
    return publishAsPromise(this, event);
  }

  /** What the bus calls: the outcome goes to `tracker`, no promise per event. */
  publishTracked(event: OutgoingEvent, tracker: PublishTracker): void {
    if (this.closing !== undefined) {
      tracker.published(new EventBusClosedError());
      return;
    }
    if (this.replicated !== undefined) this.replicated.append(event, tracker);
    else this.publisher.append(event, tracker);
  }

  // ---------------------------------------------------------------- consuming

  async subscribe(key: string, deliver: DeliverFn, listener?: DriverListener): Promise<void> {
    if (listener === undefined) {
      throw new Error(`redis-streams delivers to one listener per consumer group: subscribe('${key}') needs the listener`);
    }
    if (isPattern(key)) {
      throw new InvalidOptionsError(
        'driver',
        `'redis-streams' does not support wildcard listeners: ${listener.name} listens to '${key}'. A stream is one event name, ` +
          `so list the names (@OnEvent(['user.created', 'user.deleted'])), or use driver 'redis' for pattern listeners`,
      );
    }
    const group = groupOf(this.options.streams.group, listener.name);
    if (group === undefined) {
      throw new InvalidOptionsError(
        'streams.group',
        `is required with driver 'redis-streams' when the app has listeners (${listener.name} listens to '${key}'): ` +
          `set streams: { group: '<service name>' }; replicas of one service share it`,
      );
    }
    const streamKey = this.streamKey(key);
    const id = `${streamKey}\n${group}`;
    const duplicate = (): Error =>
      new Error(
        `two listeners named '${listener.name}' listen to '${key}'; with 'redis-streams' a listener's name is its consumer group, ` +
          `so give programmatic listeners distinct names ({ name: '...' })`,
      );
    if (this.consumers.has(id)) throw duplicate();
    const streams = this.options.streams;
    const settings: StreamConsumerSettings = {
      eventName: key,
      streamKey,
      deadLetterKey: deadLetterKey(streamKey),
      group,
      consumer: this.consumerName,
      listener,
      maxAttempts: listener.options.retry?.attempts ?? streams.maxAttempts ?? STREAMS_DEFAULTS.maxAttempts,
      claimIdleMs: streams.claimIdleMs ?? STREAMS_DEFAULTS.claimIdleMs,
      blockMs: streams.blockMs ?? STREAMS_DEFAULTS.blockMs,
      maxLen: streams.maxLen ?? STREAMS_DEFAULTS.maxLen,
    };
    const startId = streams.startFrom === 'beginning' ? '0' : '$';
    // Reserve the name before the first await, so a concurrent duplicate is refused too.
    if (this.reserved.has(id)) throw duplicate();
    this.reserved.add(id);
    try {
      const commands = await this.openCommands();
      const unreachable = (cause?: unknown): DriverUnavailableError =>
        new DriverUnavailableError(
          `could not create consumer group '${group}' on '${streamKey}' within redis.publishTimeoutMs: is Redis reachable?`,
          cause,
        );
      let created: void | typeof TIMED_OUT;
      try {
        created = await beforeDeadline(ensureGroup(commands, streamKey, group, startId), Date.now() + this.options.redis.publishTimeoutMs);
      } catch (err) {
        throw err instanceof DriverUnavailableError ? unreachable(err) : err;
      }
      if (created === TIMED_OUT) throw unreachable();
      // Tracked appends from this bus expect the group at once (not only after the next refresh).
      this.groupCache.added(key, group);
      const context = this.context!;
      const reader = await this.readers.readerFor(commands, settings);
      const consumer = new StreamConsumer(settings, commands, reader, context, deliver, (replyTo, report) =>
        this.tracking?.send(replyTo, report),
      );
      this.consumers.set(id, consumer);
      if (this.closing !== undefined) {
        await this.stopConsumer(id, consumer, Date.now());
        return;
      }
      consumer.start();
    } finally {
      this.reserved.delete(id);
    }
  }

  async unsubscribe(key: string, listener?: DriverListener): Promise<void> {
    const streamKey = this.streamKey(key);
    const group = listener === undefined ? undefined : groupOf(this.options.streams.group, listener.name);
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    const stopping: Array<Promise<void>> = [];
    for (const [id, consumer] of this.consumers) {
      const [stream, consumerGroup] = id.split('\n');
      if (stream !== streamKey || (group !== undefined && consumerGroup !== group)) continue;
      stopping.push(this.stopConsumer(id, consumer, deadline));
    }
    await Promise.all(stopping);
  }

  private async stopConsumer(id: string, consumer: StreamConsumer, deadline: number): Promise<void> {
    if (this.consumers.get(id) === consumer) this.consumers.delete(id);
    await consumer.stop(deadline);
  }

  /** The command connection and every consumer's reader ready, Redis answering within `timeoutMs` (health checks). */
  health(timeoutMs: number): Promise<DriverHealth> {
    if (this.closing !== undefined) return probeConnections(new Map(), undefined, timeoutMs, 0);
    const connections = new Map<string, RedisClient | undefined>([['commands', this.commands?.client]]);
    for (const [role, client] of this.readers.connections()) connections.set(role, client);
    return probeConnections(connections, this.commands?.client, timeoutMs, this.consumers.size);
  }

  close(): Promise<void> {
    return (this.closing ??= this.doClose());
  }

  private async doClose(): Promise<void> {
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    await Promise.all([...this.consumers].map(([id, consumer]) => this.stopConsumer(id, consumer, deadline)));
    await this.readers.close();
    await Promise.all([this.publisher.drain(deadline), this.replicated?.drain(deadline)]);
    this.released = true;
    await this.connections.closeAll();
  }
}
