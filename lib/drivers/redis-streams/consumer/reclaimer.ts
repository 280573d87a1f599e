import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { forgetGoneConsumers } from '../consumer-group';
import type { StreamCommands } from '../stream-commands';
import { parseAutoClaimReply, type StreamEntry } from '../stream-replies';
import { BATCH, type ConsumerState, type StreamConsumerSettings } from './consumer-settings';

/** XAUTOCLAIM pages per pass at most (the rest waits for the next pass). */
const MAX_PAGES = 10;

/**
 * Takes over entries other consumers of the group left idle for `claimIdleMs` (their replica died
 * or stalled), every `claimIdleMs / 2`, and now and then removes consumers of replicas that are gone.
 */
export class Reclaimer {
  private lastReclaim = 0;
  private lastCleanup = 0;
  /** No pass before this (epoch ms): set after an outage. */
  private notBefore = 0;

  constructor(
    private readonly commands: StreamCommands,
    private readonly settings: StreamConsumerSettings,
    private readonly state: ConsumerState,
    private readonly log: DriverContext['log'],
    /** Runs reclaimed entries (fetches their attempt counts first). */
    private readonly run: (entries: StreamEntry[]) => Promise<void>,
  ) {}

  /**
   * The command connection is back from an outage. During it no replica could keep its entries
   * fresh, so they all look idle; the time Redis was away does not count: the next pass waits
   * `claimIdleMs`, giving each owner time to come back and touch its entries (it does at once),
   * instead of taking and running them a second time. A replica that died meanwhile only has its
   * entries reclaimed that much later.
   */
  deferAfterOutage(): void {
    this.notBefore = Date.now() + this.settings.claimIdleMs;
  }

  /** A pass is due. */
  get due(): boolean {
    const now = Date.now();
    // Never while the command connection is down: a pass waiting for it would go out the moment it is back.
    return (
      this.commands.settled && now >= this.notBefore && now - this.lastReclaim >= Math.max(100, Math.floor(this.settings.claimIdleMs / 2))
    );
  }

  async reclaim(): Promise<void> {
    this.lastReclaim = Date.now();
    const { streamKey, group, consumer, claimIdleMs } = this.settings;
    await this.forgetGone();
    let cursor = '0-0';
    for (let page = 0; page < MAX_PAGES && !this.state.stopped; page++) {
      const reply = await this.commands.call('XAUTOCLAIM', streamKey, group, consumer, claimIdleMs, cursor, 'COUNT', BATCH);
      const { cursor: next, entries } = parseAutoClaimReply(reply);
      if (entries.length > 0) {
        this.log(
          'debug',
          `${this.settings.listener.name}: reclaimed ${entries.length} idle entr${entries.length === 1 ? 'y' : 'ies'} of '${streamKey}'`,
        );
        await this.run(entries);
      }
      cursor = next;
      if (cursor === '0-0') return;
    }
  }

  private async forgetGone(): Promise<void> {
    const { streamKey, group, consumer, claimIdleMs, blockMs } = this.settings;
    const goneAfterMs = Math.max(2 * claimIdleMs, 10 * blockMs);
    if (Date.now() - this.lastCleanup < goneAfterMs / 2) return;
    this.lastCleanup = Date.now();
    for (const info of await forgetGoneConsumers(this.commands, streamKey, group, consumer, goneAfterMs)) {
      this.log(
        'debug',
        `${this.settings.listener.name}: removed consumer '${info.name}' of '${group}' (idle ${info.idle} ms, nothing pending)`,
      );
    }
  }
}
