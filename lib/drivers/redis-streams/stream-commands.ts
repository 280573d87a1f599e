import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import type { DriverContext } from '../../interfaces/event-bus-driver.interface';
import { ConnectionHealth } from '../redis/shared/connection-health';
import { beforeDeadline, TIMED_OUT } from '../redis/shared/deadline';
import { socketOf, type RedisClient } from '../redis/shared/redis-connection';
import { resetSocket } from '../redis/shared/socket-reset';
import type { Socket } from 'node:net';

/** What `StreamCommands.call` accepts (ioredis `call`). */
export type CommandArg = string | number | Buffer;

/**
 * The connection closed before Redis answered a command written on it. The command is not resent
 * (the driver's own connection has `autoResendUnfulfilledCommands: false`), and Redis may or may not
 * have run it: the caller decides (an ack is sent again, an append is reported failed).
 */
export class ConnectionLostError extends DriverUnavailableError {
  constructor(readonly command: string) {
    super(`the connection to Redis closed before Redis answered ${command}; it was not resent and may still have been executed`);
  }
}

/**
 * The streams driver's command connection (appends, acks, claims, dead letters) with a deadline on
 * every command. A command Redis does not answer in time rejects; on a connection of the driver's
 * own it also resets the connection, because the usual cause is a half-open socket (a silent
 * network failure) on which every later command would hang until the kernel's TCP timeout. ioredis
 * then reconnects, and the reset drops whatever still waited in the socket, so an append reported
 * as failed is never sent later (the connection has `autoResendUnfulfilledCommands: false`). A
 * client the user passed in is never reset: its commands only time out.
 *
 * On the driver's own connection a command is written only while the connection is ready (it
 * waits for it otherwise, until its deadline), and every command written on it rejects with
 * `ConnectionLostError` as soon as the connection closes: ioredis would neither resend nor settle
 * it, so without this it would hang until its deadline (and everything queued behind it).
 */
export class StreamCommands {
  readonly health: ConnectionHealth;
  /** Fails each command written on the current connection and not answered yet (their `ConnectionLostError`). */
  private readonly unanswered = new Set<() => void>();
  /** Called each time the connection is ready again (one client listener however many consumers). */
  private readonly readyListeners = new Set<() => void>();
  /** Between a 'close' and the next 'ready' event (ioredis reports both a tick after the status changes). */
  private outage = false;

  constructor(
    readonly client: RedisClient,
    /** How long a command may stay unanswered (`redis.publishTimeoutMs`). */
    readonly timeoutMs: number,
    /** The driver opened this connection (it may reset it, and logs its outages). */
    private readonly owned: boolean,
    private readonly log: DriverContext['log'],
    target: string,
    closing: () => boolean,
  ) {
    this.health = new ConnectionHealth(client, log, {
      driver: 'redis-streams driver',
      role: 'command connection',
      target,
      closing,
      logs: owned,
    });
    client.on('close', this.onClose);
    client.on('ready', this.notifyReady);
  }

  /** Calls `listener` whenever the connection is ready again; returns what removes it. */
  onReady(listener: () => void): () => void {
    this.readyListeners.add(listener);
    return () => this.readyListeners.delete(listener);
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Ready, and the end of the last outage was announced to `onReady` listeners already. */
  get settled(): boolean {
    return !this.outage && this.client.status === 'ready';
  }

  /** `client.call(...)` with the deadline; on the driver's own connection, written once it is ready. */
  call(command: string, ...args: CommandArg[]): Promise<unknown> {
    if (!this.owned || this.client.status === 'ready') return this.guard(this.client.call(command, ...args), command);
    return this.callWhenReady(command, args);
  }

  /** Settles like `reply`, or rejects after `timeoutMs` (resetting the connection the command went out on). */
  async guard<T>(reply: Promise<T>, what: string, deadline = Date.now() + this.timeoutMs): Promise<T> {
    const socket = this.socket();
    const result = await beforeDeadline(this.untilLost(reply, what), deadline);
    if (result !== TIMED_OUT) return result;
    this.stalled(socket, what);
    throw new DriverUnavailableError(
      `Redis did not answer ${what} within redis.publishTimeoutMs (${this.timeoutMs} ms); it was not resent and may still have been executed`,
    );
  }

  /**
   * Settles like `reply` (a command just written), or rejects with `ConnectionLostError` as soon as
   * the connection closes first. Only on the driver's own connection while it is ready: a command
   * written then is on the current socket; a client of the user's resends what it had in flight.
   */
  untilLost<T>(reply: Promise<T>, what: string): Promise<T> {
    if (!this.owned || this.client.status !== 'ready') return reply;
    return new Promise<T>((resolve, reject) => {
      const lost = (): void => reject(new ConnectionLostError(what));
      this.unanswered.add(lost);
      reply.then(
        (value) => {
          this.unanswered.delete(lost);
          resolve(value);
        },
        (err: unknown) => {
          this.unanswered.delete(lost);
          reject(err);
        },
      );
    });
  }

  /** The socket commands are written to now (to reset only the connection a stalled command went out on). */
  socket(): Socket | undefined {
    return socketOf(this.client);
  }

  /**
   * A command written on `socket` got no answer in time. If that socket is still the connection's
   * and looks healthy, it is half-open: reset it (once, however many commands were waiting on it).
   */
  stalled(socket: Socket | undefined, what: string): void {
    if (!this.owned || socket === undefined || socket !== this.socket() || this.client.status !== 'ready' || socket.destroyed) return;
    this.log('warn', `redis-streams driver: no answer to ${what} within ${this.timeoutMs} ms on the command connection; resetting it`);
    resetSocket(socket);
  }

  private async callWhenReady(command: string, args: CommandArg[]): Promise<unknown> {
    const deadline = Date.now() + this.timeoutMs;
    if (!(await this.health.whenReady(deadline))) {
      throw new DriverUnavailableError(
        `Redis is unreachable (connection ${this.client.status}): ${command} was not sent within redis.publishTimeoutMs (${this.timeoutMs} ms)`,
      );
    }
    return this.guard(this.client.call(command, ...args), command, deadline);
  }

  private readonly notifyReady = (): void => {
    this.outage = false;
    for (const listener of [...this.readyListeners]) listener();
  };

  /** Everything written on the connection that just closed is lost: fail it now, not at its deadline. */
  private readonly onClose = (): void => {
    this.outage = true;
    if (this.unanswered.size === 0) return;
    const lost = [...this.unanswered];
    this.unanswered.clear();
    for (const fail of lost) fail();
  };
}
