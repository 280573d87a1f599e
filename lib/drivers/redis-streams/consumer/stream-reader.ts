import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { beforeDeadline, settlesBy, TIMED_OUT } from '../../redis/shared/deadline';
import { isCluster, type RedisClient } from '../../redis/shared/redis-connection';
import type { StreamCommands } from '../stream-commands';
import { entriesOfReadReply, type StreamEntry } from '../stream-replies';
import { BATCH, type StreamConsumerSettings } from './consumer-settings';

/** Extra time a blocking read may take beyond BLOCK before the connection is presumed dead. */
const WATCHDOG_GRACE_MS = 5000;

/**
 * The consumer's blocking connection: XREADGROUP of new entries (`>`) and of this consumer's own
 * pending entries (the history re-read after a reconnect). Every read has a watchdog: a read that
 * the connection's close or a silent network leaves unanswered fails, and the connection is
 * dropped and re-made, so a half-open socket never stalls the consumer for good.
 */
export class StreamReader {
  /** For CLIENT UNBLOCK at shutdown (-1: not allowed by an ACL). */
  private readerId: number | undefined;
  private abortRead: ((reason: Error) => void) | undefined;

  private readonly onReady = (): void => {
    this.readerId = undefined;
    this.onReconnect();
  };
  private readonly onClose = (): void => {
    this.abortRead?.(new Error(`connection of consumer '${this.settings.consumer}' on '${this.settings.streamKey}' closed during a read`));
  };

  constructor(
    private readonly client: RedisClient,
    /** The command connection (sends CLIENT UNBLOCK to this one). */
    private readonly commands: StreamCommands,
    private readonly settings: StreamConsumerSettings,
    private readonly log: DriverContext['log'],
    /** The connection is (back) up: the consumer re-reads its history. */
    private readonly onReconnect: () => void,
  ) {}

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  attach(): void {
    this.client.on('ready', this.onReady);
    this.client.on('close', this.onClose);
  }

  detach(): void {
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
  }

  /** New entries (`>`), at most `count`, waiting up to `blockMs` for some. */
  async readNew(count: number): Promise<StreamEntry[]> {
    if (this.readerId === undefined && isCluster(this.client)) {
      // A Cluster's CLIENT ID goes to a random node, not the stream's master: shutdown drops the connection instead.
      // Seam for per-master readers: a reader that owns one master's connection can keep CLIENT UNBLOCK.
      this.readerId = -1;
    }
    if (this.readerId === undefined) {
      // An ACL that forbids CLIENT ID only makes shutdown drop the connection instead.
      this.readerId = Number(await this.client.call('CLIENT', 'ID').catch(() => -1));
    }
    const { group, consumer, blockMs, streamKey } = this.settings;
    const read = this.client.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', streamKey, '>');
    const reply = await this.watch(read, blockMs + Math.max(WATCHDOG_GRACE_MS, blockMs));
    return entriesOfReadReply(reply, streamKey);
  }

  /**
   * This consumer's own pending entries, oldest first, in pages of BATCH, each handed to `run`
   * before the next is read (entries Redis handed to this consumer whose reply may have been lost).
   */
  async readHistory(run: (entries: StreamEntry[]) => Promise<void>, stopped: () => boolean): Promise<void> {
    const { group, consumer, streamKey } = this.settings;
    let from = '0';
    while (!stopped()) {
      // Watched like a blocking read: a half-open connection would otherwise stall this consumer for good.
      const read = this.client.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', BATCH, 'STREAMS', streamKey, from);
      const reply = await this.watch(read, Math.max(WATCHDOG_GRACE_MS, this.settings.blockMs));
      const entries = entriesOfReadReply(reply, streamKey);
      if (entries.length === 0) return;
      await run(entries);
      from = entries[entries.length - 1].id;
      if (entries.length < BATCH) return;
    }
  }

  /** Wakes a blocked XREADGROUP (the consumer is stopping). */
  async unblock(): Promise<void> {
    const id = this.readerId;
    if (id === undefined || id < 0 || Number.isNaN(id) || !this.commands.ready || this.commands.client === this.client) return;
    try {
      await settlesBy(this.commands.call('CLIENT', 'UNBLOCK', id), Date.now() + 1000);
    } catch {
      // Not allowed by an ACL: stop() drops the connection instead.
    }
  }

  /** Drops the connection and fails the read in progress (still blocked after `unblock()`). */
  drop(): void {
    this.client.disconnect();
    this.abortRead?.(new Error('consumer stopped'));
  }

  /** A read that fails when the connection closes or stays silent past `timeoutMs` (then it is dropped and re-made). */
  private async watch<T>(read: Promise<T>, timeoutMs: number): Promise<T> {
    const aborted = new Promise<never>((_, reject) => {
      this.abortRead = reject;
    });
    try {
      const reply = await beforeDeadline(Promise.race([read, aborted]), Date.now() + timeoutMs);
      if (reply !== TIMED_OUT) return reply;
    } finally {
      this.abortRead = undefined;
    }
    this.log('warn', `no answer to a read on '${this.settings.streamKey}' within ${timeoutMs} ms; reconnecting`);
    this.client.disconnect(true);
    throw new Error('blocking read timed out');
  }
}
