import type { StreamCommands } from '../stream-commands';
import type { StreamEntry } from '../stream-replies';
import type { StreamConsumerSettings } from './consumer-settings';

/** Entries read together; those from `next` on have not started. */
export interface Batch {
  readonly entries: StreamEntry[];
  next: number;
}

/** Entries held outside the tracker: waiting for a retry, or acknowledged but not confirmed. */
export type HeldEntries = (visit: (id: string) => void) => void;

/**
 * The entries a consumer holds: running, waiting their turn in a batch, or held elsewhere (waiting
 * for a retry, acknowledged but unconfirmed). It keeps them all from looking idle to the other
 * replicas (a heartbeat resets their idle time, and once more as soon as the command connection is
 * back from an outage, during which their idle time grew) and tells re-read or reclaimed entries it
 * already holds from those it does not. An entry whose ack waits (Redis was away) is kept fresh like
 * a running one: otherwise another replica reclaims it and runs it a second time.
 */
export class EntryTracker {
  /** Deliveries in progress, by entry id. */
  readonly running = new Map<string, Promise<void>>();
  /** Batches being worked through: their entries from `next` on wait their turn. */
  private readonly batches = new Set<Batch>();
  private heartbeat: NodeJS.Timeout | undefined;
  private stopReconnectTouch: (() => void) | undefined;

  constructor(
    private readonly commands: StreamCommands,
    private readonly settings: StreamConsumerSettings,
    /** Waiting for a retry: held, and kept fresh by the heartbeat. */
    private readonly retrying: HeldEntries,
    /** Acknowledged, not confirmed yet: held, and kept fresh until the ack is confirmed. */
    private readonly acknowledged: HeldEntries,
  ) {}

  startHeartbeat(): void {
    this.heartbeat = setInterval(() => this.touch(), Math.max(50, Math.floor(this.settings.claimIdleMs / 3)));
    this.heartbeat.unref?.();
    // Back from an outage: the idle time of what this consumer holds grew meanwhile.
    this.stopReconnectTouch = this.commands.onReady(() => this.touch());
  }

  stopHeartbeat(): void {
    clearInterval(this.heartbeat);
    this.stopReconnectTouch?.();
  }

  openBatch(entries: StreamEntry[]): Batch {
    const batch: Batch = { entries, next: 0 };
    this.batches.add(batch);
    return batch;
  }

  closeBatch(batch: Batch): void {
    this.batches.delete(batch);
  }

  /** Settles once every running delivery has. */
  allSettled(): Promise<unknown> {
    return Promise.allSettled([...this.running.values()]);
  }

  /**
   * The entries of `entries` this consumer does not hold already, and that are still pending here
   * (in `counts`: an entry missing from it was acknowledged meanwhile, its ack racing the read).
   */
  notHeld(entries: StreamEntry[], counts: Map<string, number>): StreamEntry[] {
    const held = new Set<string>();
    this.forEachWaiting((id) => held.add(id));
    this.acknowledged((id) => held.add(id));
    this.retrying((id) => held.add(id));
    return entries.filter((e) => counts.has(e.id) && !held.has(e.id) && !this.running.has(e.id));
  }

  private forEachWaiting(visit: (id: string) => void): void {
    for (const batch of this.batches) for (let i = batch.next; i < batch.entries.length; i++) visit(batch.entries[i].id);
  }

  /** Resets the idle time of entries this consumer holds (running, waiting their turn, a retry or their ack). */
  private touch(): void {
    const ids = new Set<string>(this.running.keys());
    this.retrying((id) => ids.add(id));
    this.acknowledged((id) => ids.add(id));
    this.forEachWaiting((id) => ids.add(id));
    if (ids.size === 0 || !this.commands.ready) return;
    const { streamKey, group, consumer } = this.settings;
    this.commands.call('XCLAIM', streamKey, group, consumer, 0, ...ids, 'JUSTID').catch(() => undefined);
  }
}
