import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import type { Socket } from 'node:net';
import type { ResolvedEventBusOptions } from '../../../options/resolved-options.interface';
import { beforeDeadline, settlesBy } from './deadline';
import { loadIoredis } from './ioredis-loader';
import { describeRedisTarget } from './redis-target';
import { resetSocket } from './socket-reset';

/** Options of ours that ioredis must not see. */
const OWN_KEYS = new Set([
  'url',
  'client',
  'channelPrefix',
  'maxEventSize',
  'maxEventDepth',
  'publishTimeoutMs',
  'tls',
  'cluster',
  'sharded',
]);

/**
 * Role options that belong to the Cluster itself, not to its node connections: ioredis creates node
 * connections with its own `enableOfflineQueue: true` whatever `redisOptions` says.
 */
const CLUSTER_LEVEL_KEYS = ['enableOfflineQueue', 'lazyConnect', 'enableAutoPipelining'] as const;

/** Options of a connection's role on a Cluster: what `RedisOptions` cannot say there. */
export interface ClusterRoleOptions {
  /** Sharded pub/sub subscriber (one connection per master that owns a subscribed channel). */
  shardedSubscribers?: boolean;
}

/** One node as the connection layer sees it (for health and the event board). */
export interface RedisNodeView {
  /** `host:port`. */
  readonly address: string;
  readonly role: 'master' | 'replica' | 'standalone';
  /** The ioredis status of the connection to it (`ready`, `connecting`, `end`…). */
  readonly status: string;
}

export type RedisClient = Redis | Cluster;

/**
 * Set on every connection made here. ioredis's disconnect() ends the socket and keeps a ref'd timer of
 * `disconnectTimeout` (2 s by default) to destroy it, cleared only by the socket's 'close' event: on a
 * socket that had already closed (Redis down, a refused connection) that event never comes, and the
 * timer held the process for 2 s after a failed start or a close during an outage. We only disconnect a
 * connection we are done with, so nothing is lost by destroying the socket at once.
 */
const RELEASE_AT_ONCE: RedisOptions = { disconnectTimeout: 0 };

/** How long close waits for Redis to answer QUIT before dropping the connection (a stalled server never answers). */
const QUIT_WAIT_MS = 1_000;

/**
 * Opens ioredis connections from the module's `redis` options. A connection the user passed in
 * (`client`) is used for commands but never closed; every connection made here is tracked
 * and closed by `closeAll()`.
 */
export class RedisConnectionFactory {
  private readonly owned = new Set<RedisClient>();

  constructor(private readonly options: ResolvedEventBusOptions['redis']) {}

  /** The connection for commands: the user's client, or a new one. */
  async commandClient(name: string): Promise<RedisClient> {
    if (this.options.client !== undefined) return this.options.client;
    return this.create(name);
  }

  /** A connection of its own (subscriber, blocking reader): a duplicate of the user's client, or a new one. */
  async create(name: string, overrides: RedisOptions = {}, clusterRole: ClusterRoleOptions = {}): Promise<RedisClient> {
    const client =
      this.options.client !== undefined
        ? duplicate(this.options.client, { connectionName: name, ...overrides, ...RELEASE_AT_ONCE }, clusterRole)
        : await this.open(name, overrides, clusterRole);
    if (isCluster(client)) {
      // A node that joins the pool later (a promoted replica) is connected at once, for the same reason.
      // Only once the Cluster is up: during its own start-up it connects the nodes it needs itself.
      const cluster = client;
      cluster.on('+node', (node: Redis) => {
        setImmediate(() => {
          if (cluster.status === 'ready' && node.status === 'wait') node.connect().catch(() => undefined);
        });
      });
    }
    this.owned.add(client);
    return client;
  }

  /**
   * A connection to one node of a Cluster (the master serving some streams), like the Cluster's own
   * connection to it (address, credentials, TLS), but reconnecting by itself: ioredis's node
   * connections never reconnect, the Cluster replaces them instead.
   */
  createNodeConnection(node: Redis, name: string, overrides: RedisOptions = {}): Redis {
    const client = node.duplicate({
      connectionName: name,
      lazyConnect: false,
      readOnly: false,
      retryStrategy: (times: number) => Math.min(times * 50, 2000),
      ...overrides,
      ...RELEASE_AT_ONCE,
    });
    this.owned.add(client);
    return client;
  }

  /** Closes one connection made here before closeAll() (a cluster master no longer read from). */
  release(client: RedisClient): void {
    if (!this.owned.delete(client)) return;
    client.disconnect();
  }

  /** True when the target is a Redis Cluster (keys are hash-tagged, blocking reads need their own connections). */
  get cluster(): boolean {
    return this.options.cluster !== undefined || (this.options.client !== undefined && isCluster(this.options.client));
  }

  /**
   * The nodes as the connections see them now: for a Cluster, every node of the first open Cluster
   * connection's pool (the user's client first); for one server, that server.
   */
  nodes(): RedisNodeView[] {
    const clients = this.options.client !== undefined ? [this.options.client, ...this.owned] : [...this.owned];
    const client = clients[0];
    if (client === undefined) return [];
    if (!isCluster(client)) {
      const { host, port } = client.options;
      return [{ address: `${host ?? '127.0.0.1'}:${port ?? 6379}`, role: 'standalone', status: client.status }];
    }
    const masters = new Set(client.nodes('master'));
    return client.nodes('all').map((node) => ({
      address: `${node.options.host}:${node.options.port}`,
      role: masters.has(node) ? 'master' : 'replica',
      status: node.status,
    }));
  }

  /** Closes every connection made here (never the user's). */
  async closeAll(): Promise<void> {
    const clients = [...this.owned];
    this.owned.clear();
    await Promise.all(
      clients.map(async (client) => {
        // QUIT on a connection that is down would wait in the offline queue for a server that may never return.
        if (client.status !== 'ready') {
          client.disconnect();
          return;
        }
        const quitted = client.quit().then(
          () => true,
          () => false,
        );
        if ((await beforeDeadline(quitted, Date.now() + QUIT_WAIT_MS)) !== true) client.disconnect();
      }),
    );
  }

  private async open(name: string, overrides: RedisOptions, clusterRole: ClusterRoleOptions): Promise<RedisClient> {
    const { default: RedisCtor, Cluster: ClusterCtor } = await loadIoredis('redis');
    const options: RedisOptions = { connectionName: name, ...this.ioredisOptions(), ...overrides, ...RELEASE_AT_ONCE };
    const cluster = this.options.cluster;
    if (cluster !== undefined) {
      const { redisOptions, ...clusterOptions } = cluster.options ?? {};
      return new ClusterCtor(
        cluster.nodes,
        clusterConnectionOptions({ ...clusterOptions, redisOptions: { ...redisOptions, ...options } }, clusterRole),
      );
    }
    const url = this.options.url;
    return url !== undefined ? new RedisCtor(url, options) : new RedisCtor(options);
  }

  /** Where the connections go, without credentials (for messages and the start-up log line). */
  describeTarget(): string {
    const { cluster, client } = this.options;
    if (client !== undefined && isCluster(client)) return 'the given Cluster client';
    if (cluster !== undefined) return `the Redis Cluster seeded by ${cluster.nodes.map(describeNode).join(', ')}`;
    return describeRedisTarget(this.options);
  }

  /** Everything the user gave that is an ioredis option, with `tls: true` made concrete. */
  ioredisOptions(): RedisOptions {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(this.options)) {
      if (!OWN_KEYS.has(key) && value !== undefined) out[key] = value;
    }
    const tls = this.options.tls;
    if (tls === true) out.tls = {};
    else if (tls !== undefined && tls !== false) out.tls = tls;
    return out as RedisOptions;
  }
}

/** A new connection like the user's, with the options this connection's role needs on top. */
function duplicate(client: RedisClient, overrides: RedisOptions, clusterRole: ClusterRoleOptions): RedisClient {
  if (!isCluster(client)) return client.duplicate(overrides);
  // Seeded from the topology the client discovered, not its original seed list (whose nodes may be down).
  const known = client.nodes('master').map((node) => ({ host: node.options.host, port: node.options.port }));
  const options = clusterConnectionOptions(
    { ...client.options, redisOptions: { ...client.options.redisOptions, ...overrides } },
    clusterRole,
  );
  return client.duplicate(known.length > 0 ? known : undefined, options);
}

/**
 * A connection role's options made right for a Cluster. The role's queueing options move to the
 * Cluster's top level (on the node connections ioredis ignores them), and a role that must fail
 * fast (no offline queue) also gets no failover or CLUSTERDOWN retries: ioredis would otherwise
 * resend an unanswered command, or send it seconds late, after a master dies.
 */
export function clusterConnectionOptions(options: ClusterOptions, role: ClusterRoleOptions = {}): ClusterOptions {
  const node: Record<string, unknown> = { ...options.redisOptions };
  const top: Record<string, unknown> = { ...options };
  for (const key of CLUSTER_LEVEL_KEYS) {
    if (node[key] !== undefined) top[key] = node[key];
    delete node[key];
  }
  if (top.enableOfflineQueue === false) {
    top.retryDelayOnFailover = 0;
    top.retryDelayOnClusterDown = 0;
  }
  if (role.shardedSubscribers === true) top.shardedSubscribers = true;
  top.redisOptions = node;
  return top as ClusterOptions;
}

function describeNode(node: ClusterNode | { host?: string; port?: number }): string {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  return `${node.host ?? '127.0.0.1'}:${node.port ?? 6379}`;
}

/** True for an ioredis Cluster (keys of different slots cannot share a pipeline or a transaction). */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/**
 * Opens a Cluster's node connections that are still lazy (status `wait`). ioredis makes them on
 * demand, and a Cluster without an offline queue fails the first commands sent to one that is
 * still connecting ("Connection is closed."): a publisher warms them up before it is ready.
 */
export async function connectClusterNodes(client: Cluster, timeoutMs = 1000): Promise<void> {
  const connecting = Promise.all(
    client
      .nodes('all')
      .filter((node) => node.status === 'wait')
      .map((node) => node.connect().catch(() => undefined)),
  );
  // Bounded: a node the pool drops meanwhile (a topology refresh) may never settle its connect().
  await settlesBy(connecting, Date.now() + timeoutMs);
}

/** The socket a connection writes to now (undefined while it has none). */
export function socketOf(client: RedisClient): Socket | undefined {
  return (client as unknown as { stream?: Socket }).stream;
}

/** Resets the connection's socket (see `resetSocket`); with no socket, drops the client's connection. */
export function resetConnection(client: RedisClient): void {
  const stream = socketOf(client);
  if (stream !== undefined) resetSocket(stream);
  else client.disconnect(true);
}

/** An error's message, for log lines and error messages. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
