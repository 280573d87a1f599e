import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { beforeDeadline, settlesBy, sleep, TIMED_OUT } from '../../redis/shared/deadline';
import type { RedisClient } from '../../redis/shared/redis-connection';
import type { StreamCommands } from '../stream-commands';
import { describe } from './consumer-settings';
import type { StreamWakeSource } from './wake-source';
import { newestId, text, WatchedStreams } from './watched-streams';

/** Extra time a blocking read may take beyond BLOCK before the connection is presumed dead. */
export const WATCHDOG_GRACE_MS = 5000;

/**
 * The one blocking connection of a Redis node: an `XREAD BLOCK` over every stream its consumers
 * read (one XREAD spans many streams, where one XREADGROUP cannot span groups), starting after
 * each stream's newest entry id. When entries arrive it looks up each woken stream's new end
 * (`XREVRANGE key + - COUNT 1`) and raises that stream's generation; the consumers of the stream
 * then read their groups with non-blocking XREADGROUPs on the node's read connection. Nothing is
 * written for the wake-up (no notification key, no PUBLISH per append).
 *
 * The read has a watchdog like every blocking read: one left unanswered (a half-open socket) drops
 * the connection; ioredis reconnects, and every stream's end is looked up again and its
 * consumers woken, so an entry appended meanwhile is read.
 */
export class StreamWakeWatcher implements StreamWakeSource {
  private readonly streams = new WatchedStreams();
  /** For CLIENT UNBLOCK when the set of streams changes or at shutdown (-1: not allowed by an ACL). */
  private clientId: number | undefined;
  private blocking = false;
  private closed = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeLoop: (() => void) | undefined;
  private abortRead: ((reason: Error) => void) | undefined;

  private readonly onReady = (): void => {
    this.clientId = undefined;
    // Entries appended while the connection was down are past no blocking read: look every end up again.
    this.streams.forgetEnds();
    this.wakeLoop?.();
  };
  private readonly onClose = (): void => {
    this.abortRead?.(new Error('the wake-up connection closed during a read'));
  };

  constructor(
    private readonly client: RedisClient,
    /** Sends CLIENT UNBLOCK to this connection. */
    private readonly commands: StreamCommands,
    private readonly blockMs: number,
    private readonly log: DriverContext['log'],
  ) {}

  start(): void {
    this.client.on('ready', this.onReady);
    this.client.on('close', this.onClose);
    this.loopDone = this.loop();
  }

  watch(streamKey: string): void {
    // The blocking read in progress does not cover a new stream: start it again with it.
    if (this.streams.add(streamKey)) void this.restartRead();
  }

  unwatch(streamKey: string): void {
    // Left in the blocking read until it returns: that costs nothing but a spurious wake-up.
    this.streams.remove(streamKey);
  }

  generation(streamKey: string): number {
    return this.streams.generation(streamKey);
  }

  waitForChange(streamKey: string, seen: number, timeoutMs: number, onCancel: (cancel: () => void) => void): Promise<boolean> {
    return this.streams.waitForChange(streamKey, seen, timeoutMs, onCancel);
  }

  /** See WatchedStreams.advance: a consumer's read moves the end, so a busy stream does not wake the loop per entry. */
  advance(streamKey: string, id: string): void {
    this.streams.advance(streamKey, id);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeLoop?.();
    await this.restartRead();
    if (!(await settlesBy(this.loopDone, Date.now() + 1000))) {
      // CLIENT UNBLOCK not allowed or raced the read: the connection goes (closeAll() would anyway).
      this.client.disconnect();
      this.abortRead?.(new Error('closed'));
      await settlesBy(this.loopDone, Date.now() + 1000);
    }
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
  }

  // ---------------------------------------------------------------- the loop

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      try {
        if (this.client.status !== 'ready') {
          await this.pause(1000);
          continue;
        }
        await this.lookUpEnds();
        if (this.closed) break;
        if (this.streams.size === 0) {
          await this.pause(60_000);
          continue;
        }
        const woken = await this.blockingRead();
        for (const [key, id] of woken) this.advance(key, id);
        failures = 0;
      } catch (err) {
        if (this.closed) break;
        failures++;
        this.streams.forgetEnds();
        const message = describe(err);
        if (/NOPERM/.test(message)) {
          if (failures === 1) {
            this.log(
              'error',
              `redis-streams driver: the ACL user may not wait for new entries (${message}): allow +xread and +xrevrange on the prefix's keys; ` +
                `until then listeners look for new entries only once per streams.blockMs`,
            );
          }
        } else if (failures === 1 || failures % 50 === 0) {
          this.log('warn', `redis-streams driver: waiting for new entries failed (${message}); retrying`);
        }
        await this.pause(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /**
   * Looks up the newest entry id of every stream whose end is unknown (new, woken, or after a
   * reconnect), then raises their generations: their consumers read their groups after this.
   */
  private async lookUpEnds(): Promise<void> {
    const stale = this.streams.stale();
    if (stale.length === 0) return;
    const ends = await this.watchdog(
      Promise.all(stale.map((key) => this.client.call('XREVRANGE', key, '+', '-', 'COUNT', 1))),
      Math.max(WATCHDOG_GRACE_MS, this.blockMs),
    );
    stale.forEach((key, i) => this.streams.setEnd(key, newestId(ends[i]) ?? '0-0'));
  }

  /** Blocks until some watched stream has entries past its end (or BLOCK passed): each such stream with its first new id. */
  private async blockingRead(): Promise<Array<[string, string]>> {
    if (this.clientId === undefined) {
      // An ACL that forbids CLIENT ID only makes changes of the stream set drop the connection instead.
      this.clientId = Number(await this.client.call('CLIENT', 'ID').catch(() => -1));
    }
    const keys = this.streams.keys();
    const ids: string[] = [];
    for (const key of keys) {
      const lastId = this.streams.lastId(key);
      // A stream added while CLIENT ID was asked: look its end up first.
      if (lastId === undefined) return [];
      ids.push(lastId);
    }
    this.blocking = true;
    try {
      const read = this.client.call('XREAD', 'COUNT', 1, 'BLOCK', this.blockMs, 'STREAMS', ...keys, ...ids);
      return firstIdsOfReadReply(await this.watchdog(read, this.blockMs + Math.max(WATCHDOG_GRACE_MS, this.blockMs)));
    } finally {
      this.blocking = false;
    }
  }

  /** Ends the blocking read in progress (a stream was added, or closing). */
  private async restartRead(): Promise<void> {
    if (!this.blocking) {
      this.wakeLoop?.();
      return;
    }
    const id = this.clientId;
    if (id !== undefined && id >= 0 && !Number.isNaN(id) && this.commands.ready && this.commands.client !== this.client) {
      try {
        // 0: the read was not blocked yet (UNBLOCK overtook it on the other connection): try again shortly.
        for (let tries = 0; tries < 5 && this.blocking; tries++) {
          if (Number(await settlesByValue(this.commands.call('CLIENT', 'UNBLOCK', id), 1000)) === 1) return;
          await sleep(5 * (tries + 1));
        }
        return;
      } catch {
        // Not allowed by an ACL: the read in progress ends within blockMs, and the next one covers
        // the new stream (its consumer reads once per blockMs meanwhile).
      }
    }
  }

  /** A read that fails when the connection closes or stays silent past `timeoutMs` (then it is dropped and re-made). */
  private async watchdog<T>(read: Promise<T>, timeoutMs: number): Promise<T> {
    const aborted = new Promise<never>((_, reject) => {
      this.abortRead = reject;
    });
    try {
      const reply = await beforeDeadline(Promise.race([read, aborted]), Date.now() + timeoutMs);
      if (reply !== TIMED_OUT) return reply;
    } finally {
      this.abortRead = undefined;
    }
    this.log('warn', `redis-streams driver: no answer to a read on the wake-up connection within ${timeoutMs} ms; reconnecting`);
    this.client.disconnect(true);
    throw new Error('blocking read timed out');
  }

  /** Sleeps `ms`, or less when a reconnect, a new stream or close() wakes the loop. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeLoop === done) this.wakeLoop = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref?.();
      this.wakeLoop = done;
    });
  }
}

/** The reply, or a rejection after `ms`. */
async function settlesByValue<T>(reply: Promise<T>, ms: number): Promise<T> {
  const result = await beforeDeadline(reply, Date.now() + ms);
  if (result === TIMED_OUT) throw new Error('no answer to CLIENT UNBLOCK');
  return result;
}

/** Each stream of an XREAD reply with its (first) entry's id: RESP2 `[[key, entries], ...]`, RESP3 flattened `[key, entries, ...]`, or a map. */
function firstIdsOfReadReply(reply: unknown): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  const add = (key: unknown, entries: unknown): void => {
    const first: unknown = Array.isArray(entries) ? entries[0] : undefined;
    if (Array.isArray(first)) out.push([text(key), text(first[0])]);
  };
  if (reply === null || reply === undefined) return out;
  if (Array.isArray(reply)) {
    if (reply.length > 0 && !Array.isArray(reply[0])) for (let i = 0; i + 1 < reply.length; i += 2) add(reply[i], reply[i + 1]);
    else for (const item of reply) if (Array.isArray(item)) add(item[0], item[1]);
  } else if (typeof reply === 'object') {
    for (const [key, entries] of Object.entries(reply)) add(key, entries);
  }
  return out;
}
