import type { Redis } from 'ioredis';
import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { beforeDeadline, settlesBy, TIMED_OUT } from '../../redis/shared/deadline';
import type { RedisClient } from '../../redis/shared/redis-connection';
import { describe } from './consumer-settings';
import { WATCHDOG_GRACE_MS } from './stream-wake-watcher';
import type { StreamWakeSource } from './wake-source';
import { newestId, text, WatchedStreams } from './watched-streams';

/** The channel Redis sends key invalidations on (RESP2, to the connection named by REDIRECT). */
const INVALIDATE = '__redis__:invalidate';

/**
 * The wake-up of one cluster master's consumers. One `XREAD BLOCK` cannot span streams of different
 * hash slots, so on a cluster the master itself says which keys changed: the tracking connection
 * (the master's read connection) turns on `CLIENT TRACKING … BCAST PREFIX <channelPrefix>`,
 * redirected to the wake-up connection, which is subscribed to `__redis__:invalidate`. Redis then
 * names every key of the prefix written on that master (XADD, XGROUP, trims), at most once per key
 * per event-loop turn however many appends it took. Acks and group reads do not write the key:
 * they wake nobody. For each named stream the watcher looks up its end (`XREVRANGE … COUNT 1`) and
 * wakes its consumers only when entries past the known end appeared.
 *
 * Nothing is written for the wake-up and no server setting is needed (keyspace notifications
 * would need `notify-keyspace-events`). After either connection comes back, tracking is turned on
 * again and every stream's end looked up again, so what was appended meanwhile is read. The
 * wake-up connection is pinged when idle: a half-open socket is dropped and re-made. Should Redis
 * or an ACL refuse CLIENT TRACKING, consumers still read once per `blockMs`.
 */
export class TrackingWakeWatcher implements StreamWakeSource {
  private readonly streams = new WatchedStreams();
  /** Streams an invalidation named since their end was last looked up. */
  private readonly touched = new Set<string>();
  /** The wake-up connection's CLIENT ID, once it is subscribed (undefined after it reconnects). */
  private wakeId: number | undefined;
  /** Tracking must be turned on (again): after either connection's (re)connect. */
  private needsTracking = true;
  private closed = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeLoop: (() => void) | undefined;
  private abortCommand: ((reason: Error) => void) | undefined;

  private readonly onWakeReady = (): void => {
    this.wakeId = undefined;
    this.onTrackingReady();
  };
  private readonly onTrackingReady = (): void => {
    this.needsTracking = true;
    this.wakeLoop?.();
  };
  private readonly onClose = (): void => {
    this.abortCommand?.(new Error('a wake-up connection closed during a command'));
  };
  private readonly onInvalidate = (channel: Buffer | string, keys: unknown): void => {
    if (text(channel) !== INVALIDATE) return;
    // null: the whole keyspace went (FLUSHALL): every end is looked up again.
    const named = Array.isArray(keys) ? keys.map(text) : this.streams.keys();
    let any = false;
    for (const key of named) {
      if (!this.streams.has(key)) continue;
      this.touched.add(key);
      any = true;
    }
    if (any) this.wakeLoop?.();
  };

  constructor(
    /** Subscribed to the invalidations (RESP2: a RESP3 connection would get them as pushes ioredis drops). */
    private readonly wakeClient: Redis,
    /** Turns tracking on and looks up stream ends (the master's read connection). */
    private readonly trackingClient: RedisClient,
    private readonly prefix: string,
    private readonly blockMs: number,
    private readonly log: DriverContext['log'],
  ) {}

  start(): void {
    this.wakeClient.on('ready', this.onWakeReady);
    this.wakeClient.on('close', this.onClose);
    this.wakeClient.on('messageBuffer', this.onInvalidate);
    this.trackingClient.on('ready', this.onTrackingReady);
    this.trackingClient.on('close', this.onClose);
    this.loopDone = this.loop();
  }

  watch(streamKey: string): void {
    if (this.streams.add(streamKey)) this.wakeLoop?.();
  }

  unwatch(streamKey: string): void {
    this.streams.remove(streamKey);
    if (!this.streams.has(streamKey)) this.touched.delete(streamKey);
  }

  generation(streamKey: string): number {
    return this.streams.generation(streamKey);
  }

  waitForChange(streamKey: string, seen: number, timeoutMs: number, onCancel: (cancel: () => void) => void): Promise<boolean> {
    return this.streams.waitForChange(streamKey, seen, timeoutMs, onCancel);
  }

  advance(streamKey: string, id: string): void {
    this.streams.advance(streamKey, id);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeLoop?.();
    if (!(await settlesBy(this.loopDone, Date.now() + 1000))) this.abortCommand?.(new Error('closed'));
    this.wakeClient.off('ready', this.onWakeReady);
    this.wakeClient.off('close', this.onClose);
    this.wakeClient.off('messageBuffer', this.onInvalidate);
    this.trackingClient.off('ready', this.onTrackingReady);
    this.trackingClient.off('close', this.onClose);
  }

  // ---------------------------------------------------------------- the loop

  private async loop(): Promise<void> {
    let failures = 0;
    let refused = false;
    while (!this.closed) {
      try {
        if (this.wakeClient.status !== 'ready' || this.trackingClient.status !== 'ready') {
          await this.pause(1000);
          continue;
        }
        if (this.needsTracking && !refused) {
          refused = !(await this.turnTrackingOn());
          this.needsTracking = false;
          // Turned on before the ends are looked up: an append after the lookup is named by Redis.
          this.streams.forgetEnds();
        }
        const pending = this.streams.stale().length + this.touched.size;
        if (pending > 0) {
          await this.lookUpEnds();
        } else if (!(await this.pause(Math.max(WATCHDOG_GRACE_MS, this.blockMs)))) {
          // Idle: a wake-up connection that went silent would miss every invalidation.
          await this.command(this.wakeClient, this.wakeClient.ping(), 'PING');
        }
        failures = 0;
      } catch (err) {
        if (this.closed) break;
        failures++;
        if (failures === 1 || failures % 50 === 0) {
          this.log('warn', `redis-streams driver: waiting for new entries on a cluster master failed (${describe(err)}); retrying`);
        }
        await this.pause(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /** Subscribes the wake-up connection and points the read connection's tracking at it; false when Redis refuses tracking. */
  private async turnTrackingOn(): Promise<boolean> {
    if (this.wakeId === undefined) {
      const id = Number(await this.command(this.wakeClient, this.wakeClient.call('CLIENT', 'ID'), 'CLIENT ID'));
      await this.command(this.wakeClient, this.wakeClient.subscribe(INVALIDATE), 'SUBSCRIBE');
      this.wakeId = id;
    }
    const client = this.trackingClient;
    const prefix = this.prefix === '' ? [] : ['PREFIX', this.prefix];
    try {
      // Off first: a redirect to the wake-up connection's previous id would be refused as a change.
      await this.command(client, client.call('CLIENT', 'TRACKING', 'OFF'), 'CLIENT TRACKING');
      await this.command(client, client.call('CLIENT', 'TRACKING', 'ON', 'REDIRECT', this.wakeId, 'BCAST', ...prefix), 'CLIENT TRACKING');
      return true;
    } catch (err) {
      if (this.trackingClient.status !== 'ready') throw err;
      this.log(
        'error',
        `redis-streams driver: the cluster master refused CLIENT TRACKING (${describe(err)}): allow +client|tracking for the ACL user ` +
          '(Redis 6 or later); until then listeners look for new entries only once per streams.blockMs',
      );
      return false;
    }
  }

  /** The end of every new or named stream; consumers are woken when it moved past what they read. */
  private async lookUpEnds(): Promise<void> {
    const stale = this.streams.stale();
    const unknown = new Set(stale);
    const named = [...this.touched].filter((key) => !unknown.has(key));
    this.touched.clear();
    const keys = [...stale, ...named];
    const client = this.trackingClient;
    const ends = await this.command(
      client,
      Promise.allSettled(keys.map((key) => client.call('XREVRANGE', key, '+', '-', 'COUNT', 1))),
      'XREVRANGE',
    );
    let failed: unknown;
    keys.forEach((key, i) => {
      const end = ends[i];
      if (end.status === 'rejected') {
        // A slot that moved answers MOVED: its consumers move to the new master on their next read.
        failed = end.reason;
        if (unknown.has(key)) this.streams.setEnd(key, '0-0');
        return;
      }
      const id = newestId(end.value);
      if (unknown.has(key)) this.streams.setEnd(key, id ?? '0-0');
      else if (id !== undefined) this.streams.advance(key, id);
    });
    if (failed !== undefined) throw failed;
  }

  /** A command that fails when its connection closes or stays silent (then the connection is dropped and re-made). */
  private async command<T>(client: RedisClient, reply: Promise<T>, what: string): Promise<T> {
    const aborted = new Promise<never>((_, reject) => {
      this.abortCommand = reject;
    });
    const timeoutMs = Math.max(WATCHDOG_GRACE_MS, this.blockMs);
    try {
      const result = await beforeDeadline(Promise.race([reply, aborted]), Date.now() + timeoutMs);
      if (result !== TIMED_OUT) return result;
    } finally {
      this.abortCommand = undefined;
    }
    this.log('warn', `redis-streams driver: no answer to ${what} on a cluster master within ${timeoutMs} ms; reconnecting`);
    client.disconnect(true);
    throw new Error(`${what} timed out`);
  }

  /** Sleeps `ms` (false), or less when an invalidation, a new stream, a reconnect or close() wakes the loop (true). */
  private pause(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (woken: boolean): void => {
        clearTimeout(timer);
        if (this.wakeLoop === wake) this.wakeLoop = undefined;
        resolve(woken);
      };
      const wake = (): void => done(true);
      const timer = setTimeout(() => done(false), ms);
      timer.unref?.();
      this.wakeLoop = wake;
    });
  }
}
