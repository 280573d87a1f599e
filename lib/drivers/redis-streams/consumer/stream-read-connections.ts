import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { connectionName } from '../../redis/redis.defaults';
import { ConnectionHealth } from '../../redis/shared/connection-health';
import { isCluster, type RedisClient, type RedisConnectionFactory } from '../../redis/shared/redis-connection';
import type { StreamCommands } from '../stream-commands';
import { ClusterReadNodes } from './cluster-read-nodes';
import type { StreamConsumerSettings } from './consumer-settings';
import { RoutedStreamReader } from './routed-stream-reader';
import { StreamReadNode } from './stream-read-node';
import { StreamReader, type ConsumerReader } from './stream-reader';
import { StreamWakeWatcher } from './stream-wake-watcher';
import { TrackingWakeWatcher } from './tracking-wake-watcher';

/** What the reading connections need of the driver. */
export interface StreamReadConnectionsHost {
  readonly connections: RedisConnectionFactory;
  readonly log: DriverContext['log'];
  readonly blockMs: number;
  /** `redis.channelPrefix`: on a cluster, the keys whose writes wake the consumers. */
  readonly prefix: string;
  /** The driver is closing (a closed connection is expected then). */
  closing(): boolean;
}

/** Reads are never resent after a reconnect (their replies would be lost): the consumer re-reads its history instead. */
const READ_OPTIONS: RedisOptions = { maxRetriesPerRequest: null, autoResendUnfulfilledCommands: false, enableAutoPipelining: false };

/**
 * The connections every consumer of the app reads on, opened with the first listener (an app that
 * only dispatches opens none): three for one Redis server, three per master on a cluster (see
 * ClusterReadNodes), whatever the number of listeners and event names.
 */
export class StreamReadConnections {
  private single: Promise<StreamReadNode> | undefined;
  private singleReady: StreamReadNode | undefined;
  private masters: ClusterReadNodes | undefined;

  constructor(private readonly host: StreamReadConnectionsHost) {}

  /** Makes one consumer's reader (on the command connection's server, or its stream's master). */
  async readerFor(commands: StreamCommands, settings: StreamConsumerSettings): Promise<(onReconnect: () => void) => ConsumerReader> {
    if (isCluster(commands.client)) {
      const masters = (this.masters ??= this.clusterNodes(commands.client));
      return (onReconnect) => new RoutedStreamReader(masters, settings, onReconnect);
    }
    const node = await this.singleNode(commands);
    return (onReconnect) => new StreamReader(node, settings, onReconnect);
  }

  /** Every reading connection by role (health checks). */
  connections(): Array<[string, RedisClient]> {
    return [...(this.singleReady?.connections() ?? []), ...(this.masters?.connections() ?? [])];
  }

  /** Stops the wake-up loops (the connections themselves close with all the driver's). */
  async close(): Promise<void> {
    const node = await this.single?.catch(() => undefined);
    await Promise.all([node?.close(), this.masters?.close()]);
  }

  private singleNode(commands: StreamCommands): Promise<StreamReadNode> {
    return (this.single ??= (async () => {
      const open = (role: string, name: string): Promise<RedisClient> =>
        this.host.connections.create(connectionName(name), READ_OPTIONS).then((client) => this.watched(client, role));
      const [fresh, bulk, wake] = await Promise.all([
        open('read connection', 'streams-reader'),
        open('bulk read connection', 'streams-reader-bulk'),
        open('wake-up connection', 'streams-reader-wake'),
      ]);
      const watcher = new StreamWakeWatcher(wake, commands, this.host.blockMs, this.host.log);
      return (this.singleReady = new StreamReadNode(fresh, bulk, wake, watcher, this.host.log));
    })().catch((err: unknown) => {
      this.single = undefined;
      throw err;
    }));
  }

  private clusterNodes(cluster: Cluster): ClusterReadNodes {
    const released = new WeakSet<StreamReadNode>();
    return new ClusterReadNodes({
      cluster,
      open: async (master, address) => {
        const { connections, log } = this.host;
        let node: StreamReadNode | undefined;
        const open = (role: string, name: string, overrides: RedisOptions = {}): Redis =>
          this.watched(
            connections.createNodeConnection(master, connectionName(name), { ...READ_OPTIONS, ...overrides }),
            `${role} on ${address}`,
            () => node !== undefined && released.has(node),
          );
        const fresh = open('read connection', 'streams-reader');
        const bulk = open('bulk read connection', 'streams-reader-bulk');
        // RESP2: invalidations then come as pub/sub messages (ioredis drops RESP3 invalidation pushes); resubscribed by the watcher.
        const wake = open('wake-up connection', 'streams-reader-wake', { protocol: 2, autoResubscribe: false });
        const watcher = new TrackingWakeWatcher(wake, fresh, this.host.prefix, this.host.blockMs, log);
        return (node = new StreamReadNode(fresh, bulk, wake, watcher, log));
      },
      release: async (node) => {
        released.add(node);
        await node.close();
        for (const [, client] of node.connections()) this.host.connections.release(client);
      },
    });
  }

  /** Logs the connection's outages like every other connection of the driver. */
  private watched<T extends RedisClient>(client: T, role: string, retired: () => boolean = () => false): T {
    new ConnectionHealth(client, this.host.log, {
      driver: 'redis-streams driver',
      role,
      target: this.host.connections.describeTarget(),
      closing: () => this.host.closing() || retired(),
    });
    return client;
  }
}
