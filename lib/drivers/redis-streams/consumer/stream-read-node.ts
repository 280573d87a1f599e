import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { beforeDeadline, TIMED_OUT } from '../../redis/shared/deadline';
import type { RedisClient } from '../../redis/shared/redis-connection';
import type { CommandArg, StreamCommands } from '../stream-commands';
import { StreamWakeWatcher } from './stream-wake-watcher';

/**
 * What every consumer reading from one Redis node shares: two connections, whatever the number of
 * listeners and event names. The read connection carries the consumers' non-blocking XREADGROUPs
 * (each group read on its own, with its own COUNT, so a busy group never holds back a quiet one:
 * they are pipelined, and none waits for another's listener); the wake-up connection blocks on all
 * the node's streams at once (see StreamWakeWatcher) and tells consumers when to read.
 *
 * One node today; on a cluster there would be one per master the app reads from.
 */
export class StreamReadNode {
  readonly wake: StreamWakeWatcher;
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

  constructor(
    private readonly client: RedisClient,
    wakeClient: RedisClient,
    commands: StreamCommands,
    blockMs: number,
    private readonly log: DriverContext['log'],
  ) {
    this.wake = new StreamWakeWatcher(wakeClient, commands, blockMs, log);
    this.client.on('ready', this.onReady);
    this.client.on('close', this.onClose);
    this.wake.start();
  }

  get ready(): boolean {
    return this.client.status === 'ready';
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
  async read(args: CommandArg[], timeoutMs: number, what: string, onAbort: (abort: ((reason: Error) => void) | undefined) => void): Promise<unknown> {
    let abort!: (reason: Error) => void;
    const aborted = new Promise<never>((_, reject) => {
      abort = reject;
    });
    this.inFlight.add(abort);
    onAbort(abort);
    try {
      const reply = await beforeDeadline(Promise.race([this.client.call('XREADGROUP', ...args), aborted]), Date.now() + timeoutMs);
      if (reply !== TIMED_OUT) return reply;
    } finally {
      this.inFlight.delete(abort);
      onAbort(undefined);
    }
    if (this.client.status === 'ready') {
      this.log('warn', `redis-streams driver: no answer to a read of ${what} within ${timeoutMs} ms; reconnecting the read connection`);
      this.client.disconnect(true);
    }
    throw new Error('read timed out');
  }

  /** Stops the wake-up loop (the connections themselves are closed with all the driver's). */
  async close(): Promise<void> {
    await this.wake.close();
    this.client.off('ready', this.onReady);
    this.client.off('close', this.onClose);
  }
}
