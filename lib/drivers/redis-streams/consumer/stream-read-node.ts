import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { beforeDeadline, TIMED_OUT } from '../../redis/shared/deadline';
import type { RedisClient } from '../../redis/shared/redis-connection';
import type { CommandArg } from '../stream-commands';
import type { StreamWakeSource } from './wake-source';

/** Which read connection a read goes on. */
export type ReadLane = 'fresh' | 'bulk';

/**
 * What every consumer reading from one Redis node shares: three connections, whatever the number
 * of listeners and event names. Consumers read their groups with non-blocking XREADGROUPs, each
 * group on its own with its own COUNT, so none waits for another's listener. Replies on one
 * connection come back in order, so reads go on two lanes: a read that follows a wake-up (a
 * consumer that had caught up: usually a few entries) goes on the `fresh` connection, a read that
 * follows a full batch (a busy consumer working through a backlog) on the `bulk` one. A quiet
 * stream's entries thus never wait behind a busy stream's thousand-entry replies. The wake-up
 * connection says when to read: on one server it blocks on all the node's streams at once (see
 * StreamWakeWatcher); on a cluster, where one XREAD cannot span slots, it hears the master's key
 * invalidations (see TrackingWakeWatcher). One per server, or one per cluster master the app reads
 * from (see ClusterReadNodes).
 */
export class StreamReadNode {
  readonly wake: StreamWakeSource;
  /** Consumers told when the read connection is (back) up. */
  private readonly reconnected = new Set<() => void>();
  /** Reads in progress, failed at once when the connection closes. */
  private readonly inFlight = new Set<(reason: Error) => void>();

  private readonly onReady = (): void => {
    for (const notify of [...this.reconnected]) notify();
  };
  private readonly onClose = (): void => {
    for (const abort of [...this.inFlight]) abort(new Error('the read connection closed during a read'));
  };

  private readonly clients: Record<ReadLane, RedisClient>;

  constructor(
    fresh: RedisClient,
    bulk: RedisClient,
    private readonly wakeClient: RedisClient,
    /** Made on the wake-up connection (and, on a cluster, the `fresh` one). */
    wake: StreamWakeSource,
    private readonly log: DriverContext['log'],
  ) {
    this.wake = wake;
    this.clients = { fresh, bulk };
    for (const client of [fresh, bulk]) {
      client.on('ready', this.onReady);
      client.on('close', this.onClose);
    }
    this.wake.start();
  }

  /** The node's connections by role (health checks). */
  connections(): Array<[string, RedisClient]> {
    return [
      ['reads', this.clients.fresh],
      ['bulk reads', this.clients.bulk],
      ['wake-up', this.wakeClient],
    ];
  }

  /** Both read connections are up. */
  get ready(): boolean {
    return this.clients.fresh.status === 'ready' && this.clients.bulk.status === 'ready';
  }

  /** A consumer starts reading `streamKey`; `onReconnect` runs each time the read connection is back. */
  attach(streamKey: string, onReconnect: () => void): void {
    this.reconnected.add(onReconnect);
    this.wake.watch(streamKey);
  }

  detach(streamKey: string, onReconnect: () => void): void {
    if (!this.reconnected.delete(onReconnect)) return;
    this.wake.unwatch(streamKey);
  }

  /**
   * A non-blocking read on the read connection. It fails when the connection closes, when the
   * consumer aborts it (`onAbort` hands the abort function over), or when it stays unanswered past
   * `timeoutMs`: then the connection is presumed half-open, dropped and re-made.
   */
  async read(
    lane: ReadLane,
    args: CommandArg[],
    timeoutMs: number,
    what: string,
    onAbort: (abort: ((reason: Error) => void) | undefined) => void,
  ): Promise<unknown> {
    const client = this.clients[lane];
    let abort!: (reason: Error) => void;
    const aborted = new Promise<never>((_, reject) => {
      abort = reject;
    });
    this.inFlight.add(abort);
    onAbort(abort);
    try {
      const reply = await beforeDeadline(Promise.race([client.call('XREADGROUP', ...args), aborted]), Date.now() + timeoutMs);
      if (reply !== TIMED_OUT) return reply;
    } finally {
      this.inFlight.delete(abort);
      onAbort(undefined);
    }
    if (client.status === 'ready') {
      this.log(
        'warn',
        `redis-streams driver: no answer to a read of ${what} within ${timeoutMs} ms; reconnecting the ${lane} read connection`,
      );
      client.disconnect(true);
    }
    throw new Error('read timed out');
  }

  /** Stops the wake-up loop (the connections themselves are closed with all the driver's). */
  async close(): Promise<void> {
    await this.wake.close();
    for (const client of Object.values(this.clients)) {
      client.off('ready', this.onReady);
      client.off('close', this.onClose);
    }
  }
}
