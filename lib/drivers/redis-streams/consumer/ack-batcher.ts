import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { settlesBy, sleep } from '../../redis/shared/deadline';
import { ConnectionLostError, type StreamCommands } from '../stream-commands';
import { describe, type ConsumerState } from './consumer-settings';

/** How long a failed XACK waits before it is tried again (Redis answered with an error, or not in time). */
const ACK_RETRY_MS = 500;

/**
 * Acknowledges succeeded entries: one XACK per tick for every id acknowledged since the last one;
 * a failed XACK is tried again (an unacknowledged entry would be delivered again after `claimIdleMs`).
 * XACKs go out one at a time (those acknowledged meanwhile share the next one). An XACK lost with
 * its connection fails at once and is sent again as soon as the connection is back (XACK is
 * idempotent), so a reconnect never holds acks back until a deadline.
 */
export class AckBatcher {
  /** Succeeded, XACK not sent yet. */
  private queue: string[] = [];
  /** Succeeded, in an XACK Redis has not confirmed yet (arrays, not a set of ids: nothing per entry). */
  private readonly inFlight = new Set<string[]>();
  /** The flush of this tick's acks, or the retry of a failed one. */
  private soon: NodeJS.Immediate | undefined;
  private later: NodeJS.Timeout | undefined;
  private acking: Promise<void> = Promise.resolve();
  /** Ids confirmed while a re-read or reclaim runs (see `watchConfirmed`); undefined when none runs. */
  private confirmedMeanwhile: Set<string> | undefined;
  private watching = 0;

  constructor(
    private readonly commands: StreamCommands,
    private readonly streamKey: string,
    private readonly group: string,
    private readonly state: ConsumerState,
    private readonly log: DriverContext['log'],
  ) {}

  ack(id: string): void {
    this.queue.push(id);
    if (this.soon === undefined && this.later === undefined) this.soon = setImmediate(() => void this.flush());
  }

  /**
   * Runs `during` (a re-read of pending entries, a reclaim) recording the ids whose ack Redis
   * confirms meanwhile: such a read may return an entry that was still pending when Redis read it
   * but whose ack is confirmed before the entries are sorted out — it must not run again.
   */
  async watchConfirmed<T>(during: () => Promise<T>): Promise<T> {
    this.watching++;
    this.confirmedMeanwhile ??= new Set();
    try {
      return await during();
    } finally {
      if (--this.watching === 0) this.confirmedMeanwhile = undefined;
    }
  }

  /** The ack of `id` was confirmed during the current `watchConfirmed`. */
  confirmedDuringWatch(id: string): boolean {
    return this.confirmedMeanwhile?.has(id) === true;
  }

  /** Every id acknowledged here that Redis has not confirmed yet. */
  forEachUnconfirmed(visit: (id: string) => void): void {
    for (const id of this.queue) visit(id);
    for (const ids of this.inFlight) for (const id of ids) visit(id);
  }

  /** Sends what waits and retries failures until all are confirmed or `deadline` passed (the consumer is stopping). */
  async drain(deadline: number): Promise<void> {
    while ((this.queue.length > 0 || this.inFlight.size > 0) && Date.now() < deadline) {
      await settlesBy(this.flush(), deadline);
      if (this.queue.length > 0) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
    }
    this.cancelTimers();
  }

  /** One XACK for every id acknowledged since the last flush; on failure they are tried again. */
  private flush(): Promise<void> {
    this.cancelTimers();
    if (this.queue.length === 0) return this.acking;
    const ids = this.queue;
    this.queue = [];
    this.inFlight.add(ids);
    this.acking = this.acking.then(async () => {
      try {
        await this.commands.call('XACK', this.streamKey, this.group, ...ids);
        this.inFlight.delete(ids);
        const meanwhile = this.confirmedMeanwhile;
        if (meanwhile !== undefined) for (const id of ids) meanwhile.add(id);
      } catch (err) {
        this.inFlight.delete(ids);
        this.queue.push(...ids);
        const lost = err instanceof ConnectionLostError;
        // A lost connection is logged once by the connection itself; the ack just goes again when it is back.
        this.log(
          lost ? 'debug' : 'warn',
          `acknowledging ${ids.length} entr${ids.length === 1 ? 'y' : 'ies'} of '${this.streamKey}' failed (${describe(err)}); retrying`,
        );
        if (!this.state.stopped && this.soon === undefined && this.later === undefined) {
          // After a lost connection at once: the next XACK waits for the connection to be ready.
          this.later = setTimeout(() => void this.flush(), lost ? 0 : ACK_RETRY_MS);
          this.later.unref?.();
        }
      }
    });
    return this.acking;
  }

  private cancelTimers(): void {
    if (this.soon !== undefined) clearImmediate(this.soon);
    if (this.later !== undefined) clearTimeout(this.later);
    this.soon = undefined;
    this.later = undefined;
  }
}
