import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Socket } from 'node:net';
import type { ResolvedEventBusOptions } from '../../../options/resolved-options.interface';
import { beforeDeadline } from './deadline';
import { loadIoredis } from './ioredis-loader';
import { describeRedisTarget } from './redis-target';
import { resetSocket } from './socket-reset';

/** Options of ours that ioredis must not see. */
const OWN_KEYS = new Set(['url', 'client', 'channelPrefix', 'maxEventSize', 'publishTimeoutMs', 'tls']);

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
  async create(name: string, overrides: RedisOptions = {}): Promise<RedisClient> {
    const client =
      this.options.client !== undefined
        ? duplicate(this.options.client, { connectionName: name, ...overrides, ...RELEASE_AT_ONCE })
        : await this.open(name, overrides);
    this.owned.add(client);
    return client;
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

  private async open(name: string, overrides: RedisOptions): Promise<Redis> {
    const { default: RedisCtor } = await loadIoredis('redis');
    const options: RedisOptions = { connectionName: name, ...this.ioredisOptions(), ...overrides, ...RELEASE_AT_ONCE };
    const url = this.options.url;
    return url !== undefined ? new RedisCtor(url, options) : new RedisCtor(options);
  }

  /** Where the connections go, without credentials (for messages and the start-up log line). */
  describeTarget(): string {
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
function duplicate(client: RedisClient, overrides: RedisOptions): RedisClient {
  if (isCluster(client)) return client.duplicate(undefined, { redisOptions: { ...client.options.redisOptions, ...overrides } });
  return client.duplicate(overrides);
}

/** True for an ioredis Cluster (keys of different slots cannot share a pipeline or a transaction). */
export function isCluster(client: RedisClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
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
