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
 * The streams driver's command connection (appends, acks, claims, dead letters) with a deadline on
 * every command. A command Redis does not answer in time rejects; on a connection of the driver's
 * own it also resets the connection, because the usual cause is a half-open socket (a silent
 * network failure) on which every later command would hang until the kernel's TCP timeout. ioredis
 * then reconnects, and the reset drops whatever still waited in the socket, so an append reported
 * as failed is never sent later (the connection has `autoResendUnfulfilledCommands: false`). A
 * client the user passed in is never reset: its commands only time out.
 */
export class StreamCommands {
  readonly health: ConnectionHealth;

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
  }

  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** `client.call(...)` with the deadline. */
  call(command: string, ...args: CommandArg[]): Promise<unknown> {
    return this.guard(this.client.call(command, ...args), command);
  }

  /** Settles like `reply`, or rejects after `timeoutMs` (resetting the connection the command went out on). */
  async guard<T>(reply: Promise<T>, what: string): Promise<T> {
    const socket = this.socket();
    const result = await beforeDeadline(reply, Date.now() + this.timeoutMs);
    if (result !== TIMED_OUT) return result;
    this.stalled(socket, what);
    throw new DriverUnavailableError(`Redis did not answer ${what} within redis.publishTimeoutMs (${this.timeoutMs} ms)`);
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
}
