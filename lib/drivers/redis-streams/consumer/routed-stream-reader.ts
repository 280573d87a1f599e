import type { StreamEntry } from '../stream-replies';
import type { ClusterReadNodes } from './cluster-read-nodes';
import type { StreamConsumerSettings } from './consumer-settings';
import { StreamReader, type ConsumerReader } from './stream-reader';

/** Errors after which the slot map may be stale: the stream's master changed or is gone. */
const ROUTING_ERROR = /MOVED|ASK|CLUSTERDOWN|TRYAGAIN|closed|timed out|ECONNREFUSED|ECONNRESET/;

/**
 * On a Redis Cluster: one consumer's reads on the shared connections of the master that serves its
 * stream now. Before each read the stream's slot is looked up in the slot map; when it names
 * another master (a slot moved, a replica took over) the consumer moves to that master's
 * connections and re-reads its own pending entries there (they moved with the stream).
 */
export class RoutedStreamReader implements ConsumerReader {
  private current: { address: string; reader: StreamReader } | undefined;
  private attached = false;
  private stopped = false;

  constructor(
    private readonly masters: ClusterReadNodes,
    private readonly settings: StreamConsumerSettings,
    /** The read connection is (back) up, or the stream moved: the consumer re-reads its history. */
    private readonly onReconnect: () => void,
  ) {}

  get ready(): boolean {
    const current = this.current;
    // Not routed yet, or routed elsewhere now: the next read finds the master.
    if (current === undefined || this.masters.addressOf(this.settings.streamKey) !== current.address) return true;
    if (current.reader.ready) return true;
    // Its master is down: perhaps a replica took over and the slot map does not say so yet.
    this.masters.refresh();
    return false;
  }

  attach(): void {
    this.attached = true;
  }

  detach(): void {
    this.attached = false;
    this.leave();
  }

  async readNew(count: number): Promise<StreamEntry[]> {
    const reader = await this.route();
    return this.followed(reader.readNew(count));
  }

  async readHistory(run: (entries: StreamEntry[]) => Promise<void>, stopped: () => boolean): Promise<void> {
    const reader = await this.route();
    return this.followed(reader.readHistory(run, stopped));
  }

  async unblock(): Promise<void> {
    this.stopped = true;
    await this.current?.reader.unblock();
  }

  drop(): void {
    this.stopped = true;
    this.current?.reader.drop();
  }

  /** The reader on the connections of the stream's master now. */
  private async route(): Promise<StreamReader> {
    const { streamKey } = this.settings;
    const address = this.masters.addressOf(streamKey);
    if (address === undefined) {
      this.masters.refresh();
      throw new Error(`no cluster master is known for the slot of '${streamKey}' yet`);
    }
    const previous = this.current;
    if (previous?.address === address) return previous.reader;
    this.leave();
    const node = await this.masters.acquire(address);
    if (this.stopped || !this.attached) {
      this.masters.release(address);
      throw new Error('consumer stopped');
    }
    const reader = new StreamReader(node, this.settings, this.onReconnect);
    reader.attach();
    this.current = { address, reader };
    // Moved: the entries this consumer held are pending on the new master, with the stream.
    if (previous !== undefined) this.onReconnect();
    return reader;
  }

  private leave(): void {
    const current = this.current;
    if (current === undefined) return;
    this.current = undefined;
    current.reader.detach();
    this.masters.release(current.address);
  }

  private async followed<T>(read: Promise<T>): Promise<T> {
    try {
      return await read;
    } catch (err) {
      if (ROUTING_ERROR.test(err instanceof Error ? err.message : String(err))) this.masters.refresh();
      throw err;
    }
  }
}
