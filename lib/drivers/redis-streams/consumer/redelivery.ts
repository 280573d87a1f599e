import { backoffSchedule, jitteredBackoffDelay, type BackoffSchedule } from '../../../delivery/backoff';
import type { StreamCommands } from '../stream-commands';
import { deliveryCounts, type StreamEntry } from '../stream-replies';
import type { ConsumerState, StreamConsumerSettings } from './consumer-settings';

/** How long a retry whose XCLAIM failed waits before it tries again. */
const CLAIM_RETRY_MS = 1000;

/**
 * Attempts and retries of one consumer. An entry's delivery count in its group *is* its attempt
 * number: a retry re-claims the entry with the next count before it runs, so whoever reclaims it
 * after a crash continues the count. Retries wait the listener's `retry.backoff` — the same
 * schedule its in-process retries would wait — while other entries keep flowing.
 */
export class Redelivery {
  /** Entries waiting for their next attempt, by entry id. */
  private readonly waiting = new Map<string, NodeJS.Timeout>();
  private readonly backoff: BackoffSchedule;

  constructor(
    private readonly commands: StreamCommands,
    private readonly settings: StreamConsumerSettings,
    private readonly state: ConsumerState,
    /** Runs the entry as `attempt` (it is claimed with that count already). */
    private readonly run: (entry: StreamEntry, attempt: number) => Promise<void> | undefined,
  ) {
    this.backoff = backoffSchedule(settings.listener.options.retry?.backoff);
  }

  /** Entries waiting for a retry. */
  get size(): number {
    return this.waiting.size;
  }

  readonly forEachWaiting = (visit: (id: string) => void): void => {
    for (const id of this.waiting.keys()) visit(id);
  };

  /** How long to wait after `failedAttempt` failed. */
  delayAfter(failedAttempt: number): number {
    return jitteredBackoffDelay(this.backoff, failedAttempt);
  }

  /** Runs `entry` again as `attempt` after `delayMs`. */
  schedule(entry: StreamEntry, attempt: number, delayMs: number): void {
    const timer = setTimeout(() => {
      this.waiting.delete(entry.id);
      void this.retry(entry, attempt);
    }, delayMs);
    timer.unref?.();
    this.waiting.set(entry.id, timer);
  }

  /** Drops every waiting retry: those entries stay pending with their count, for whoever reclaims them. */
  cancelAll(): void {
    for (const timer of this.waiting.values()) clearTimeout(timer);
    this.waiting.clear();
  }

  /**
   * Delivery counts (= attempt numbers) of entries this consumer holds. An entry missing from the
   * result is no longer pending here (acknowledged meanwhile, or claimed by another consumer).
   * One exact query per entry: a range query with COUNT could be cut short by other pending entries.
   */
  async attemptsOf(entries: StreamEntry[]): Promise<Map<string, number>> {
    const { streamKey, group, consumer } = this.settings;
    const replies = await Promise.all(entries.map((e) => this.commands.call('XPENDING', streamKey, group, e.id, e.id, 1, consumer)));
    const counts = new Map<string, number>();
    for (const reply of replies) for (const [id, count] of deliveryCounts(reply)) counts.set(id, count);
    return counts;
  }

  /**
   * Leaves entries pending for whoever reclaims them, with the attempt they were read as given back
   * (it never ran) and marked idle, so another replica takes them at its next reclaim pass.
   */
  async giveBack(entries: ReadonlyArray<{ id: string; attempt: number }>): Promise<void> {
    const { streamKey, group, consumer, claimIdleMs } = this.settings;
    const byCount = new Map<number, string[]>();
    for (const { id, attempt } of entries) {
      const count = Math.max(0, attempt - 1);
      byCount.set(count, [...(byCount.get(count) ?? []), id]);
    }
    for (const [count, ids] of byCount) {
      await this.commands
        .call('XCLAIM', streamKey, group, consumer, 0, ...ids, 'IDLE', claimIdleMs, 'RETRYCOUNT', count, 'JUSTID')
        .catch(() => undefined);
    }
  }

  private async retry(entry: StreamEntry, attempt: number): Promise<void> {
    if (this.state.stopped) return;
    const { streamKey, group, consumer } = this.settings;
    let claimed: unknown;
    try {
      // Records the attempt in Redis first, so a crash during it is counted by whoever reclaims it.
      claimed = await this.commands.call('XCLAIM', streamKey, group, consumer, 0, entry.id, 'RETRYCOUNT', attempt, 'JUSTID');
    } catch {
      if (!this.state.stopped) this.schedule(entry, attempt, CLAIM_RETRY_MS);
      return;
    }
    if (!Array.isArray(claimed) || claimed.length === 0) return; // no longer pending: acknowledged or deleted meanwhile
    if (this.state.stopped || this.state.refused) {
      // Stopped while claiming: the attempt is not made here.
      await this.giveBack([{ id: entry.id, attempt }]);
      return;
    }
    await this.run(entry, attempt);
  }
}
