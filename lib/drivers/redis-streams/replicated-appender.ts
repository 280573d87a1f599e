import type { Redis } from 'ioredis';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import type { PublishTracker } from '../../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../../interfaces/event-envelope.interface';
import { beforeDeadline, TIMED_OUT } from '../redis/shared/deadline';
import { keySlot } from '../redis/shared/key-slot';
import { errorMessage, isCluster, resetConnection, type RedisClient } from '../redis/shared/redis-connection';
import { FIELD_ENVELOPE } from './stream-fields';

/** What the appender needs of the driver. */
export interface ReplicatedAppenderHost {
  /** The appender's own connection (fail-fast, opened on first use, used for nothing else). */
  connection(): Promise<RedisClient>;
  streamKey(eventName: string): string;
  readonly maxLen: number;
  readonly publishTimeoutMs: number;
  readonly waitReplicas: number;
}

interface WaitedAppend {
  readonly key: string;
  readonly payload: string;
  readonly deadline: number;
  readonly tracker: PublishTracker;
}

/**
 * WAIT is given this much less than the oldest append's time left (at most a quarter of it), so
 * its answer arrives before the pipeline's watchdog, which fires when that time is up.
 */
const WAIT_MARGIN_MS = 100;

/** The appends bound for one master, with at most one pipeline in flight. */
interface Lane {
  /** The master's `host:port` on a cluster ('single' otherwise). */
  address: string;
  queue: WaitedAppend[];
  busy: boolean;
}

/**
 * Appends that resolve only once `waitReplicas` replicas have them (`streams.waitReplicas`).
 *
 * WAIT counts the replicas that have every write made so far *on its connection*, and blocks that
 * connection until it returns. So: a connection of its own (nothing else queues behind a WAIT), the
 * appends of one master go out as one pipeline `[XADD…, WAIT n t]`, and a master never has more than
 * one such pipeline in flight; what was dispatched meanwhile waits for the next. A WAIT that returns
 * fewer replicas fails its appends with DriverUnavailableError ("may still be delivered": they were
 * written). On a cluster an XADD answered MOVED was not executed: the slot map is refreshed and the
 * append goes out again (ioredis does not retry a pipeline in which only some commands failed).
 * A pipeline still unanswered when the oldest append's time is up (a half-open socket: WAIT itself
 * answers before that) fails its appends with DriverUnavailableError and resets the connection it
 * went out on, so the lane is free again and nothing written on that socket is sent late.
 */
export class ReplicatedAppender {
  private readonly lanes = new Map<string, Lane>();
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly host: ReplicatedAppenderHost) {}

  append(event: OutgoingEvent, tracker: PublishTracker): void {
    const append = {
      key: this.host.streamKey(event.name),
      payload: event.payload,
      deadline: Date.now() + this.host.publishTimeoutMs,
      tracker,
    };
    void this.route(append);
  }

  /** Waits (until `deadline`) for every pipeline in flight. */
  async drain(deadline: number): Promise<void> {
    while (this.inFlight.size > 0 && Date.now() < deadline) {
      await Promise.race([
        Promise.allSettled([...this.inFlight]),
        new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now()))),
      ]);
    }
  }

  private async route(append: WaitedAppend): Promise<void> {
    let client: RedisClient;
    try {
      client = await this.host.connection();
    } catch (err) {
      append.tracker.published(new DriverUnavailableError(`appending to Redis failed: ${errorMessage(err)}`, err));
      return;
    }
    const lane = this.laneOf(client, append.key);
    lane.queue.push(append);
    if (!lane.busy) this.send(client, lane);
  }

  /** The lane of a key: its master's address on a cluster (as the client's slot map says), one lane otherwise. */
  private laneOf(client: RedisClient, key: string): Lane {
    const address = isCluster(client) ? (client.slots[keySlot(key)]?.[0] ?? 'unknown') : 'single';
    let lane = this.lanes.get(address);
    if (lane === undefined) this.lanes.set(address, (lane = { address, queue: [], busy: false }));
    return lane;
  }

  private send(client: RedisClient, lane: Lane): void {
    const now = Date.now();
    const batch: WaitedAppend[] = [];
    for (const append of lane.queue) {
      if (append.deadline > now) batch.push(append);
      else append.tracker.published(notSent(this.host.publishTimeoutMs));
    }
    lane.queue = [];
    if (batch.length === 0) return;
    lane.busy = true;
    // WAIT's own timeout: what is left of the oldest append's time, less a margin (never 0: WAIT 0 blocks for ever).
    const deadline = Math.min(...batch.map((a) => a.deadline));
    const left = deadline - now;
    const waitMs = Math.max(1, left - Math.min(WAIT_MARGIN_MS, Math.floor(left / 4)));
    const pipeline = (client as Redis).pipeline();
    const maxLen = String(this.host.maxLen);
    for (const append of batch) pipeline.xadd(append.key, 'MAXLEN', '~', maxLen, '*', FIELD_ENVELOPE, append.payload);
    pipeline.call('WAIT', this.host.waitReplicas, waitMs);
    const sent = beforeDeadline(pipeline.exec(), deadline).then(
      (results) => (results === TIMED_OUT ? this.unanswered(client, lane, batch) : this.settle(client, batch, results ?? [])),
      (err: unknown) => this.failed(client, batch, err),
    );
    this.inFlight.add(sent);
    void sent.finally(() => {
      this.inFlight.delete(sent);
      lane.busy = false;
      // Everything dispatched while this pipeline was out goes in the next; a retried (MOVED) append may be in another lane now.
      for (const other of this.lanes.values()) if (!other.busy && other.queue.length > 0) this.send(client, other);
    });
  }

  private settle(client: RedisClient, batch: WaitedAppend[], results: Array<[Error | null, unknown]>): void {
    const [waitError, replicas] = results[batch.length] ?? [new Error('no reply to WAIT'), 0];
    let moved = false;
    batch.forEach((append, i) => {
      const [error] = results[i] ?? [new Error('no reply')];
      if (error !== null && /^(MOVED|ASK) /.test(error.message)) {
        // Not executed: send it again with the refreshed slot map, if there is time left.
        moved = true;
        if (append.deadline > Date.now()) this.laneOf(client, append.key).queue.push(append);
        else append.tracker.published(notSent(this.host.publishTimeoutMs));
        return;
      }
      if (error !== null) {
        append.tracker.published(new DriverUnavailableError(`appending to Redis failed: ${errorMessage(error)}`, error));
        return;
      }
      if (waitError !== null || Number(replicas) < this.host.waitReplicas) {
        append.tracker.published(
          new DriverUnavailableError(
            `the append was not confirmed by ${this.host.waitReplicas} replica(s) within redis.publishTimeoutMs ` +
              `(${this.host.publishTimeoutMs} ms; WAIT said ${waitError !== null ? errorMessage(waitError) : String(replicas)}): ` +
              'it may still be delivered (at-least-once)',
          ),
        );
        return;
      }
      append.tracker.published(undefined);
    });
    if (moved && isCluster(client)) client.refreshSlotsCache(() => undefined);
  }

  /** No answer by the deadline: the socket is presumed half-open; it is reset (ioredis reconnects). */
  private unanswered(client: RedisClient, lane: Lane, batch: WaitedAppend[]): void {
    const node = isCluster(client)
      ? client.nodes('master').find((candidate) => `${candidate.options.host}:${candidate.options.port}` === lane.address)
      : client;
    if (node !== undefined) resetConnection(node);
    for (const append of batch) {
      append.tracker.published(
        new DriverUnavailableError(
          `Redis did not answer the append and its WAIT within redis.publishTimeoutMs (${this.host.publishTimeoutMs} ms); ` +
            'the connection was reset; the append may still be delivered (at-least-once)',
        ),
      );
    }
  }

  private failed(client: RedisClient, batch: WaitedAppend[], err: unknown): void {
    const message = errorMessage(err);
    // ioredis refuses a pipeline whose keys its (newer) slot map puts on several masters: nothing was sent.
    if (message.includes('slots allocation group') && isCluster(client)) {
      client.refreshSlotsCache(() => undefined);
      for (const append of batch) {
        if (append.deadline > Date.now()) this.laneOf(client, append.key).queue.push(append);
        else append.tracker.published(notSent(this.host.publishTimeoutMs));
      }
      return;
    }
    for (const append of batch) append.tracker.published(new DriverUnavailableError(`appending to Redis failed: ${message}`, err));
  }
}

function notSent(timeoutMs: number): DriverUnavailableError {
  return new DriverUnavailableError(`Redis could not take the append within redis.publishTimeoutMs (${timeoutMs} ms); it was not sent`);
}
