import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import { EventBusClosedError } from '../../errors/event-bus-closed.error';
import { InvalidOptionsError } from '../../errors/invalid-options.error';
import type { DeliverFn, DriverContext, DriverListener, EventBusDriver, PublishTracker } from '../../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../../interfaces/event-envelope.interface';
import type { ResolvedEventBusOptions } from '../../options/resolved-options.interface';
import { isPattern } from '../../routing/event-pattern';
import { RedisConnectionFactory, type RedisClient } from '../redis/shared/redis-connection';
import { StreamCommands } from './stream-commands';
import { ensureGroup, StreamConsumer, type StreamConsumerSettings } from './consumer/stream-consumer';
import { deadLetterKey, DeadLetterStream } from './dead-letter-stream';
import { FIELD_ENVELOPE } from './stream-fields';

const DEFAULTS = { maxAttempts: 5, claimIdleMs: 30_000, maxLen: 100_000, blockMs: 2_000 };
/** Appends per pipeline when many events are published in one tick. */
const PIPELINE_CHUNK = 1000;

/**
 * Durable driver on Redis Streams (§8): one stream per event name, one consumer group per
 * listener, at-least-once delivery with retries, reclaiming and dead letters.
 *
 * Connections: one command connection (appends, acks, claims, dead letters; the user's client if
 * one was passed) and one blocking reader per consumer group, so a quiet stream never holds back
 * a busy one.
 */
export class RedisStreamsDriver implements EventBusDriver {
  readonly delivery = 'durable' as const;
  readonly maxEventSize: number;
  /** This replica's consumer name in every group. */
  readonly consumerName: string;
  /** The dead-letter streams of this service's listeners (`DeadLetterService` reads them). */
  readonly deadLetters: DeadLetterStream;

  private readonly connections: RedisConnectionFactory;
  private context: DriverContext | undefined;
  private command: Promise<StreamCommands> | undefined;
  /** The command connection once open (appends are written at once when it is ready). */
  private commands: StreamCommands | undefined;
  private readonly consumers = new Map<string, StreamConsumer>();
  private readonly readers = new Map<StreamConsumer, RedisClient>();
  /** Subscriptions being set up (group creation in progress). */
  private readonly reserved = new Set<string>();
  /** Appends waiting to be written (two parallel arrays: no object per event). */
  private queuedEvents: OutgoingEvent[] = [];
  private queuedTrackers: PublishTracker[] = [];
  private flushScheduled = false;
  private readonly sending = new Set<Promise<void>>();
  private closing: Promise<void> | undefined;
  /** Connections closed: none may be opened again (it would keep the process alive). */
  private released = false;
  private readyWaiter: Promise<void> | undefined;

  constructor(private readonly options: ResolvedEventBusOptions) {
    this.connections = new RedisConnectionFactory(options.redis);
    this.maxEventSize = options.redis.maxEventSize;
    this.consumerName = options.streams.consumer ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    this.deadLetters = new DeadLetterStream({
      commands: () => this.commandClient(),
      streamKey: (eventName) => this.streamKey(eventName),
      groupOf: (listenerName) => this.groupOf(listenerName),
      serviceGroup: options.streams.group,
      consumerOf: (streamKey, group) => this.consumers.get(`${streamKey}\n${group}`),
    });
  }

  async init(context: DriverContext): Promise<void> {
    this.context = context;
    // Connect now, so the first dispatches find the connection ready and are written as they come.
    // Start-up waits for the first attempt only: with Redis down the app still starts (appends fail
    // by publishTimeoutMs; listeners fail start-up when their groups cannot be created).
    const commands = await this.commandClient().catch(() => undefined);
    if (commands !== undefined) await firstAttempt(commands.client, this.options.redis.publishTimeoutMs);
  }

  /** The command connection, opened on first use (an app that fails start-up early opens none). */
  private commandClient(): Promise<StreamCommands> {
    if (this.context === undefined)
      return Promise.reject(new EventBusClosedError('the redis-streams driver is not started (the app is not initialised)'));
    if (this.released) return Promise.reject(new EventBusClosedError('the redis-streams driver is closed (the app was closed)'));
    // Our own connection never resends an append that was in flight when it dropped: a dispatch
    // reported as failed is then not appended later (§6). A client you pass in keeps its settings.
    const owned = this.options.redis.client === undefined;
    const open = (): Promise<RedisClient> =>
      owned
        ? this.connections.create('neb-streams', { autoResendUnfulfilledCommands: false })
        : this.connections.commandClient('neb-streams');
    return (this.command ??= open().then((client) => {
      if (this.released) {
        // close() ran while this connection was being made: it must not keep the process alive.
        if (owned) client.disconnect();
        throw new EventBusClosedError('the redis-streams driver is closed (the app was closed)');
      }
      if (owned) this.watchErrors(client, 'command');
      const commands = new StreamCommands(client, this.options.redis.publishTimeoutMs, owned, (message) =>
        this.context?.log('warn', message),
      );
      this.commands = commands;
      return commands;
    }));
  }

  /** The stream key of an event (`channelPrefix + name`). */
  streamKey(eventName: string): string {
    return this.options.redis.channelPrefix + eventName;
  }

  /** The consumer group of a listener (`streams.group + ':' + Class.method`). */
  groupOf(listenerName: string): string | undefined {
    const group = this.options.streams.group;
    return group === undefined ? undefined : `${group}:${listenerName}`;
  }

  // ---------------------------------------------------------------- publishing

  /** Queued and sent with every other append of this tick in one pipeline; settles when Redis confirmed it. */
  publish(event: OutgoingEvent): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.publishTracked(event, { published: (error?: unknown) => (error === undefined ? resolve() : reject(error)) });
    });
  }

  /** What the bus calls: the outcome goes to `tracker`, no promise per event. */
  publishTracked(event: OutgoingEvent, tracker: PublishTracker): void {
    if (this.closing !== undefined) {
      tracker.published(new EventBusClosedError());
      return;
    }
    this.queuedEvents.push(event);
    this.queuedTrackers.push(tracker);
    // A long dispatch loop goes out in pipelines as it runs, so Redis and the consumers start work
    // while it is still dispatching (not one burst after the loop yields).
    if (this.queuedEvents.length >= PIPELINE_CHUNK && this.commands?.ready === true) {
      this.flush();
      return;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(this.flushSoon);
    }
  }

  private readonly flushSoon = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  private flush(): void {
    const events = this.queuedEvents;
    const trackers = this.queuedTrackers;
    if (events.length === 0) return;
    this.queuedEvents = [];
    this.queuedTrackers = [];
    const deadline = Date.now() + this.options.redis.publishTimeoutMs;
    const commands = this.commands;
    // Handed to ioredis only while the connection is ready, so a failed dispatch is not sent later.
    let sent: Promise<void>;
    try {
      sent =
        commands !== undefined && commands.ready
          ? this.write(commands, events, trackers, deadline)
          : this.sendWhenReady(events, trackers, deadline);
    } catch (err) {
      // This runs inside dispatch(): whatever goes wrong is the dispatches' failure, never the caller's exception.
      fail(trackers, appendFailed(err));
      return;
    }
    this.sending.add(sent);
    void sent.finally(() => this.sending.delete(sent));
  }

  /** Waits (until the deadline) for the connection to be ready, then writes. */
  private async sendWhenReady(events: OutgoingEvent[], trackers: PublishTracker[], deadline: number): Promise<void> {
    try {
      const commands = await this.commandClient();
      if (!(await this.whenReady(commands.client, deadline))) {
        fail(trackers, this.unavailable(`is unreachable (connection ${commands.client.status})`, commands.timeoutMs));
        return;
      }
      await this.write(commands, events, trackers, deadline);
    } catch (err) {
      // Whatever goes wrong, every dispatch of the batch settles (settling one twice is a no-op).
      fail(trackers, err instanceof DriverUnavailableError ? err : appendFailed(err));
    }
  }

  private unavailable(why: string, timeoutMs: number): DriverUnavailableError {
    return new DriverUnavailableError(`Redis ${why}: the event was not confirmed within redis.publishTimeoutMs (${timeoutMs} ms)`);
  }

  /** Writes the appends now (pipelines of PIPELINE_CHUNK); settles every tracker by the deadline. */
  private write(commands: StreamCommands, events: OutgoingEvent[], trackers: PublishTracker[], deadline: number): Promise<void> {
    const client = commands.client;
    const maxLen = String(this.options.streams.maxLen ?? DEFAULTS.maxLen);
    const prefix = this.options.redis.channelPrefix;
    const cluster = (client as { isCluster?: boolean }).isCluster === true;
    const chunks: Array<Promise<void>> = [];
    for (let from = 0; from < events.length; from += PIPELINE_CHUNK) {
      const to = Math.min(events.length, from + PIPELINE_CHUNK);
      // Only the last append of each stream in a pipeline trims it (MAXLEN ~): trimming on every
      // append cost the sender three arguments per event and Redis a trim per entry. A stream may
      // pass maxLen by at most one pipeline (1000 entries) until its next trim.
      const streams = new Map<string, { key: string; last: number }>();
      for (let i = from; i < to; i++) {
        const name = events[i].name;
        const stream = streams.get(name);
        if (stream === undefined) streams.set(name, { key: prefix + name, last: i });
        else stream.last = i;
      }
      let exec: Promise<Array<[Error | null, unknown]> | null>;
      if (cluster) {
        // Keys of different slots: one command each.
        const replies: Array<Promise<[Error | null, unknown]>> = [];
        for (let i = from; i < to; i++) {
          const e = events[i];
          const { key, last } = streams.get(e.name)!;
          const reply =
            last === i
              ? client.call('XADD', key, 'MAXLEN', '~', maxLen, '*', FIELD_ENVELOPE, e.payload)
              : client.call('XADD', key, '*', FIELD_ENVELOPE, e.payload);
          replies.push(
            reply.then(
              (id): [null, unknown] => [null, id],
              (err: Error): [Error, unknown] => [err, null],
            ),
          );
        }
        exec = Promise.all(replies);
      } else {
        const pipeline = (client as Redis).pipeline();
        for (let i = from; i < to; i++) {
          const e = events[i];
          const { key, last } = streams.get(e.name)!;
          if (last === i) pipeline.xadd(key, 'MAXLEN', '~', maxLen, '*', FIELD_ENVELOPE, e.payload);
          else pipeline.xadd(key, '*', FIELD_ENVELOPE, e.payload);
        }
        exec = pipeline.exec();
      }
      const socket = commands.socket();
      chunks.push(
        beforeDeadline(exec, deadline).then(
          (results) => {
            if (results === TIMED_OUT) {
              // A half-open connection: reset it, so what is still in the socket is never sent later.
              commands.stalled(socket, 'XADD');
              fail(trackers, this.unavailable('did not answer', commands.timeoutMs), from, to);
              return;
            }
            for (let i = from; i < to; i++) {
              const reply = results?.[i - from];
              trackers[i].published(reply === undefined ? new Error('no reply') : (reply[0] ?? undefined));
            }
          },
          (err: unknown) => fail(trackers, appendFailed(err), from, to),
        ),
      );
    }
    return chunks.length === 1 ? chunks[0] : Promise.all(chunks).then(() => undefined);
  }

  /** True once the command connection is ready, false if it is not by `deadline`. */
  private async whenReady(client: RedisClient, deadline: number): Promise<boolean> {
    if (client.status === 'ready') return true;
    if (client.status === 'end') return false;
    // A client of the user's made with lazyConnect has not connected yet.
    if (client.status === 'wait') client.connect().catch(() => undefined);
    // One 'ready' listener however many appends wait (no listener pile-up during an outage).
    const ready = (this.readyWaiter ??= new Promise<void>((resolve) => client.once('ready', () => resolve())).finally(() => {
      this.readyWaiter = undefined;
    }));
    return (await beforeDeadline(ready, deadline)) !== TIMED_OUT;
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
    const group = this.groupOf(listener.name);
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
      maxAttempts: listener.options.retry?.attempts ?? streams.maxAttempts ?? DEFAULTS.maxAttempts,
      claimIdleMs: streams.claimIdleMs ?? DEFAULTS.claimIdleMs,
      blockMs: streams.blockMs ?? DEFAULTS.blockMs,
      maxLen: streams.maxLen ?? DEFAULTS.maxLen,
      startId: streams.startFrom === 'beginning' ? '0' : '$',
    };
    // Reserve the name before the first await, so a concurrent duplicate is refused too.
    if (this.reserved.has(id)) throw duplicate();
    this.reserved.add(id);
    try {
      const command = await this.commandClient();
      const unreachable = (cause?: unknown): DriverUnavailableError =>
        new DriverUnavailableError(
          `could not create consumer group '${group}' on '${streamKey}' within redis.publishTimeoutMs: is Redis reachable?`,
          cause,
        );
      let created: void | typeof TIMED_OUT;
      try {
        created = await beforeDeadline(
          ensureGroup(command, streamKey, group, settings.startId),
          Date.now() + this.options.redis.publishTimeoutMs,
        );
      } catch (err) {
        throw err instanceof DriverUnavailableError ? unreachable(err) : err;
      }
      if (created === TIMED_OUT) throw unreachable();
      // Blocking reads need a connection of their own (a read holds it for up to blockMs).
      const reader = await this.connections.create(`neb-streams-reader:${group}`, {
        maxRetriesPerRequest: null,
        autoResendUnfulfilledCommands: false,
        enableAutoPipelining: false,
      });
      this.watchErrors(reader, `reader ${group}`);
      const consumer = new StreamConsumer(settings, command, reader, this.context!, deliver);
      this.consumers.set(id, consumer);
      this.readers.set(consumer, reader);
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
    const group = listener === undefined ? undefined : this.groupOf(listener.name);
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
    const reader = this.readers.get(consumer);
    this.readers.delete(consumer);
    if (reader !== undefined) reader.disconnect();
  }

  close(): Promise<void> {
    return (this.closing ??= this.doClose());
  }

  private async doClose(): Promise<void> {
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    await Promise.all([...this.consumers].map(([id, consumer]) => this.stopConsumer(id, consumer, deadline)));
    this.flush();
    await beforeDeadline(Promise.allSettled([...this.sending]), deadline);
    this.released = true;
    await this.connections.closeAll();
  }

  /** ioredis reports connection errors as events; they are logged (reads and appends handle the failures). */
  private watchErrors(client: RedisClient, role: string): void {
    let last = 0;
    client.on('error', (err: Error) => {
      const now = Date.now();
      if (now - last < 5000) return;
      last = now;
      this.context?.log('warn', `redis-streams ${role} connection: ${err.message}`);
    });
  }
}

function fail(trackers: PublishTracker[], error: unknown, from = 0, to = trackers.length): void {
  for (let i = from; i < to; i++) trackers[i].published(error);
}

function appendFailed(err: unknown): DriverUnavailableError {
  return new DriverUnavailableError(`appending to Redis failed: ${(err as Error)?.message ?? String(err)}`, err);
}

/** Resolves once a connection is ready or its first attempt failed (at most `timeoutMs`). */
function firstAttempt(client: RedisClient, timeoutMs: number): Promise<void> {
  // 'wait': a client of the user's made with lazyConnect, connected on first use.
  if (client.status === 'ready' || client.status === 'wait' || client.status === 'end') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      client.off('error', done);
      client.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    client.once('ready', done);
    client.once('error', done);
    client.once('close', done);
  });
}

const TIMED_OUT: unique symbol = Symbol('timed out');

async function beforeDeadline<T>(promise: Promise<T>, deadline: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, deadline - Date.now()));
  });
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
