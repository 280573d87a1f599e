import type { Cluster, Redis } from 'ioredis';
import { keySlot } from '../../redis/shared/key-slot';
import type { RedisClient } from '../../redis/shared/redis-connection';
import type { StreamReadNode } from './stream-read-node';

/** What the per-master readers need of the driver. */
export interface ClusterReadNodesHost {
  /** The command connection: its slot map says which master serves a stream. */
  readonly cluster: Cluster;
  /** Opens the reading connections of one master (`node` is the Cluster's connection to it). */
  open(node: Redis, address: string): Promise<StreamReadNode>;
  /** Closes a master's reading connections (no consumer reads from it any more). */
  release(node: StreamReadNode): Promise<void>;
}

interface MasterNode {
  users: number;
  node: Promise<StreamReadNode>;
  ready: StreamReadNode | undefined;
}

/** At most one slot map refresh asked for per this many ms (a failover makes every consumer ask). */
const REFRESH_EVERY_MS = 500;

/**
 * On a Redis Cluster: one StreamReadNode per master the app reads from, opened when its first
 * consumer needs it and closed after its last one left (a master whose slots moved away, or that
 * died and was replaced by its replica). Which master a stream is on comes from the command
 * connection's slot map (`prefix{name}` hashes on the name); it is refreshed when a consumer finds
 * its master gone or answering MOVED.
 */
export class ClusterReadNodes {
  private readonly masters = new Map<string, MasterNode>();
  private refreshedAt = 0;

  constructor(private readonly host: ClusterReadNodesHost) {}

  /** `host:port` of the master serving `streamKey` as the slot map says now (undefined: not known yet). */
  addressOf(streamKey: string): string | undefined {
    return this.host.cluster.slots[keySlot(streamKey)]?.[0];
  }

  /** The reading connections of the master at `address`, counted: one `release` per call. */
  async acquire(address: string): Promise<StreamReadNode> {
    let master = this.masters.get(address);
    if (master === undefined) {
      const connection = this.host.cluster.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === address);
      if (connection === undefined) {
        this.refresh();
        throw new Error(`the cluster has no connection to master ${address} yet`);
      }
      const created: MasterNode = { users: 0, node: this.host.open(connection, address), ready: undefined };
      created.node.then(
        (node) => (created.ready = node),
        () => {
          if (this.masters.get(address) === created) this.masters.delete(address);
        },
      );
      this.masters.set(address, (master = created));
    }
    master.users++;
    try {
      return await master.node;
    } catch (err) {
      master.users--;
      throw err;
    }
  }

  release(address: string): void {
    const master = this.masters.get(address);
    if (master === undefined || --master.users > 0) return;
    this.masters.delete(address);
    void master.node.then(
      (node) => this.host.release(node),
      () => undefined,
    );
  }

  /** Asks the command connection to refresh its slot map (a master gone, a slot moved). */
  refresh(): void {
    const now = Date.now();
    if (now - this.refreshedAt < REFRESH_EVERY_MS) return;
    this.refreshedAt = now;
    this.host.cluster.refreshSlotsCache(() => undefined);
  }

  /** Every open master's connections by role (health checks). */
  connections(): Array<[string, RedisClient]> {
    const out: Array<[string, RedisClient]> = [];
    for (const [address, master] of this.masters) {
      for (const [role, client] of master.ready?.connections() ?? []) out.push([`${role} on ${address}`, client]);
    }
    return out;
  }

  async close(): Promise<void> {
    const masters = [...this.masters.values()];
    this.masters.clear();
    await Promise.all(
      masters.map((master) =>
        master.node.then(
          (node) => this.host.release(node),
          () => undefined,
        ),
      ),
    );
  }
}
