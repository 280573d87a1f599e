import type { StreamEntry } from '../stream-replies';
import { entriesOfReadReply } from '../stream-replies';
import { BATCH, type StreamConsumerSettings } from './consumer-settings';
import type { StreamReadNode } from './stream-read-node';
import { WATCHDOG_GRACE_MS } from './stream-wake-watcher';

/** How a consumer reads: on its node's shared connections (StreamReader), or on a cluster on those of its stream's master (RoutedStreamReader). */
export interface ConsumerReader {
  readonly ready: boolean;
  attach(): void;
  detach(): void;
  readNew(count: number): Promise<StreamEntry[]>;
  readHistory(run: (entries: StreamEntry[]) => Promise<void>, stopped: () => boolean): Promise<void>;
  unblock(): Promise<void>;
  drop(): void;
}

/**
 * One consumer's reads, on the connections its Redis node shares with every other consumer:
 * non-blocking XREADGROUPs of new entries (`>`) and of this consumer's own pending entries (the
 * history re-read after a reconnect), issued when the node's wake-up watcher says the stream has
 * new entries, or while the last read came back full. Every read has a watchdog: one left
 * unanswered (a half-open socket) fails, and the shared connection is dropped and re-made.
 */
export class StreamReader implements ConsumerReader {
  /** The wake-up generation of the stream this consumer's last read of new entries covered. */
  private seen = 0;
  /** The last read of new entries returned some: read again without waiting for a wake-up. */
  private more = false;
  /** The last wait ended without a wake-up: read once anyway (a safety net, once per blockMs at most). */
  private check = false;
  private abortRead: ((reason: Error) => void) | undefined;
  private cancelWait: (() => void) | undefined;
  private stopped = false;
  private readonly setAbort = (abort: ((reason: Error) => void) | undefined): void => {
    this.abortRead = abort;
  };

  constructor(
    private readonly node: StreamReadNode,
    private readonly settings: StreamConsumerSettings,
    /** The read connection is (back) up: the consumer re-reads its history. */
    private readonly onReconnect: () => void,
  ) {}

  get ready(): boolean {
    return this.node.ready;
  }

  attach(): void {
    this.node.attach(this.settings.streamKey, this.onReconnect);
  }

  detach(): void {
    this.node.detach(this.settings.streamKey, this.onReconnect);
  }

  /**
   * New entries (`>`), at most `count`: read at once when some may be waiting, else after the
   * stream's next wake-up; an empty list when none came within `blockMs`.
   */
  async readNew(count: number): Promise<StreamEntry[]> {
    const { group, consumer, blockMs, streamKey } = this.settings;
    const wake = this.node.wake;
    for (;;) {
      if (this.stopped) return [];
      const generation = wake.generation(streamKey);
      if (this.more || this.check || generation !== this.seen) {
        this.seen = generation;
        this.check = false;
        const reply = await this.node.read(
          this.more ? 'bulk' : 'fresh',
          ['GROUP', group, consumer, 'COUNT', count, 'STREAMS', streamKey, '>'],
          Math.max(WATCHDOG_GRACE_MS, blockMs),
          `'${streamKey}'`,
          this.setAbort,
        );
        const entries = entriesOfReadReply(reply, streamKey);
        // Entries came: more may have come meanwhile, so read again at once (an empty read costs one
        // round trip; waiting for a wake-up costs two, and a busy stream rarely comes back empty).
        this.more = entries.length > 0;
        if (entries.length > 0) {
          // The other consumers of the stream may have these to read too: wake them without a round trip.
          wake.advance(streamKey, entries[entries.length - 1].id);
          return entries;
        }
        continue;
      }
      const changed = await wake.waitForChange(streamKey, generation, blockMs, (cancel) => (this.cancelWait = cancel));
      this.cancelWait = undefined;
      if (!changed) {
        this.check = true;
        return [];
      }
    }
  }

  /**
   * This consumer's own pending entries, oldest first, in pages of BATCH, each handed to `run`
   * before the next is read (entries Redis handed to this consumer whose reply may have been lost).
   */
  async readHistory(run: (entries: StreamEntry[]) => Promise<void>, stopped: () => boolean): Promise<void> {
    const { group, consumer, streamKey, blockMs } = this.settings;
    let from = '0';
    while (!stopped()) {
      const reply = await this.node.read(
        'bulk',
        ['GROUP', group, consumer, 'COUNT', BATCH, 'STREAMS', streamKey, from],
        Math.max(WATCHDOG_GRACE_MS, blockMs),
        `the pending entries of '${streamKey}'`,
        this.setAbort,
      );
      const entries = entriesOfReadReply(reply, streamKey);
      if (entries.length === 0) return;
      await run(entries);
      from = entries[entries.length - 1].id;
      if (entries.length < BATCH) return;
    }
  }

  /** Ends a wait for new entries (the consumer is stopping). */
  async unblock(): Promise<void> {
    this.stopped = true;
    this.cancelWait?.();
  }

  /** Fails the read in progress (still unanswered after `unblock()`); the shared connection stays. */
  drop(): void {
    this.stopped = true;
    this.cancelWait?.();
    this.abortRead?.(new Error('consumer stopped'));
  }
}
