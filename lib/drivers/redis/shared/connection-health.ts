import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { connectClusterNodes, isCluster, type RedisClient } from './redis-connection';
import { beforeDeadline, TIMED_OUT } from './deadline';

/** How a driver describes one of its connections in its logs. */
export interface ConnectionHealthOptions {
  /** `redis driver`, `redis-streams driver`: the start of every log line. */
  readonly driver: string;
  /** `publisher`, `reader svc:Billing.charge`… */
  readonly role: string;
  /** Where the connection goes, without credentials. */
  readonly target: string;
  /** The driver is closing: a closed connection is expected, not lost. */
  readonly closing: () => boolean;
  /** Added to the warning when the connection is lost (what that means for events). */
  readonly lostNote?: string;
  /** Added to the log line when it is back (what the driver does about it). */
  readonly backNote?: () => string;
  /** False for a connection the user passed in: its events are the user's to log. Default true. */
  readonly logs?: boolean;
}

/**
 * Readiness and the lost-connection logging policy of one Redis connection, the same for every
 * connection of both drivers: a lost connection is one warning per outage, its return one log
 * line, and the connection errors ioredis emits on every reconnect attempt go to debug (the
 * warning already told the story).
 */
export class ConnectionHealth {
  private down = false;
  /** Ready at least once: before that, a failure is the start-up's error to report, not a lost connection. */
  private wasReady = false;
  /** One 'ready' listener however many callers wait (no listener pile-up during an outage). */
  private readyWaiter: Promise<void> | undefined;

  constructor(
    readonly client: RedisClient,
    private readonly log: DriverContext['log'],
    private readonly options: ConnectionHealthOptions,
  ) {
    if (options.logs === false) return;
    client.on('ready', this.onReady);
    client.on('close', this.onClose);
    client.on('error', this.onError);
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /**
   * Connects (a lazy client) and resolves once the connection is ready; rejects with the cause
   * when the attempt fails, or when it is not ready within `timeoutMs` (start-up must not hang on a
   * server that accepts the connection but never answers).
   */
  async connect(timeoutMs: number): Promise<void> {
    const client = this.client;
    if (client.status === 'ready') {
      if (isCluster(client)) await connectClusterNodes(client);
      return;
    }
    if (client.status === 'end') throw new Error('connection closed');
    // ioredis rejects a failed connect() with "Connection is closed."; the 'error' event before it has
    // the cause (`connect ECONNREFUSED 127.0.0.1:6390`, an auth failure…), which is what the user needs.
    let cause: Error | undefined;
    const onFailure = (err: Error): void => {
      cause ??= err;
    };
    client.on('error', onFailure);
    const attempt =
      client.status === 'wait'
        ? client.connect().then(
            () => undefined,
            (err: unknown) => {
              throw cause ?? err;
            },
          )
        : // Already connecting (a duplicate of a user's client, or a connection opened without lazyConnect).
          new Promise<void>((resolve, reject) => {
            const done = (err?: Error): void => {
              client.off('ready', onReady);
              client.off('close', onClose);
              client.off('error', onError);
              if (err === undefined) resolve();
              else reject(err);
            };
            const onReady = (): void => done();
            const onClose = (): void => done(cause ?? new Error('connection closed before it was ready'));
            const onError = (err: Error): void => done(err);
            client.once('ready', onReady);
            client.once('close', onClose);
            client.once('error', onError);
          });
    const connected = isCluster(client) ? attempt.then(() => connectClusterNodes(client)) : attempt;
    try {
      if ((await beforeDeadline(connected, Date.now() + timeoutMs)) === TIMED_OUT) {
        throw new Error(`not ready within connectTimeout (${timeoutMs} ms)${cause ? `: ${cause.message}` : ''}`);
      }
    } finally {
      client.off('error', onFailure);
    }
  }

  /** True once the connection is ready, false if it is not by `deadline` or it was closed for good. */
  async whenReady(deadline: number): Promise<boolean> {
    const client = this.client;
    if (client.status === 'ready') return true;
    if (client.status === 'end') return false;
    // A client of the user's made with lazyConnect has not connected yet.
    if (client.status === 'wait') client.connect().catch(() => undefined);
    const ready = (this.readyWaiter ??= new Promise<void>((resolve) => client.once('ready', () => resolve())).finally(() => {
      this.readyWaiter = undefined;
    }));
    return (await beforeDeadline(ready, deadline)) !== TIMED_OUT;
  }

  private readonly onReady = (): void => {
    if (this.down) {
      const note = this.options.backNote?.();
      this.log('log', `${this.options.driver}: ${this.options.role} reconnected to ${this.options.target}${note ? `; ${note}` : ''}`);
    }
    this.down = false;
    this.wasReady = true;
  };

  private readonly onClose = (): void => {
    if (!this.down && this.wasReady && !this.options.closing()) {
      const note = this.options.lostNote ?? 'reconnecting';
      this.log('warn', `${this.options.driver}: ${this.options.role} lost its connection to ${this.options.target}; ${note}`);
    }
    this.down = true;
  };

  private readonly onError = (err: unknown): void => {
    this.log('debug', `${this.options.driver}: ${this.options.role} connection error: ${err instanceof Error ? err.message : String(err)}`);
  };
}
