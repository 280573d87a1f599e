import type { Cluster, Redis } from 'ioredis';
import { DriverUnavailableError } from '../../errors/driver-unavailable.error';
import type { PublishTracker } from '../../interfaces/event-bus-driver.interface';
import type { OutgoingEvent } from '../../interfaces/event-envelope.interface';
import { MAX_PUBLISH_BATCH } from '../redis/redis.defaults';
import { batchError, scriptEnd, type BatchScript } from '../redis/shared/batch-script';
import { beforeDeadline, settlesBy, TIMED_OUT } from '../redis/shared/deadline';
import { keySlot } from '../redis/shared/key-slot';
import { PublishBatcher } from '../redis/shared/publish-batcher';
import { errorMessage, isCluster } from '../redis/shared/redis-connection';
import { appendBatchScript } from './append-script';
import { ConnectionLostError, type StreamCommands } from './stream-commands';
import { FIELD_ENVELOPE } from './stream-fields';

/** What the publisher needs of the driver. */
export interface StreamPublisherHost {
  /** The command connection, opened on first use. */
  commands(): Promise<StreamCommands>;
  /** The command connection if open (appends are written at once when it is ready). */
  openCommands(): StreamCommands | undefined;
  /** The stream of an event (hash-tagged on a cluster). */
  streamKey(eventName: string): string;
  readonly maxLen: number;
  readonly publishTimeoutMs: number;
  log(level: 'warn', message: string): void;
}

/**
 * Appends dispatched events to their streams (XADD). Everything dispatched in one tick goes out in
 * one socket write (a cluster: a pipeline per master), handed to ioredis only while the connection is
 * ready, so a failed dispatch is never appended later; every tracker settles by `publishTimeoutMs`,
 * and an append in flight when the connection drops fails at once (it is never resent). A failure
 * reported after the append was written means "not confirmed": Redis may still have appended it.
 */
export class StreamPublisher {
  /** The trackers of the appends waiting; their events are in `events`, in the same order (nothing allocated per event). */
  private readonly batcher: PublishBatcher<PublishTracker>;
  private events: OutgoingEvent[] = [];
  private readonly sending = new Set<Promise<void>>();
  private readonly script: BatchScript;

  constructor(private readonly host: StreamPublisherHost) {
    this.script = appendBatchScript((reason) =>
      host.log(
        'warn',
        `redis-streams driver: Redis refused EVAL (${reason}); appending one command per event from now on, which costs more CPU per event`,
      ),
    );
    // Flushed at the end of the tick even while the connection is down: the batch then waits for it (until its deadline).
    this.batcher = new PublishBatcher(this.send, () => this.host.openCommands()?.ready === true, true);
  }

  append(event: OutgoingEvent, tracker: PublishTracker): void {
    this.events.push(event);
    this.batcher.add(tracker);
  }

  /** Sends what is queued and waits (until `deadline`) for every append in flight to settle. */
  async drain(deadline: number): Promise<void> {
    this.batcher.flush();
    await settlesBy(Promise.allSettled([...this.sending]), deadline);
  }

  /** Takes every waiting append (the batcher hands over all its trackers at once). */
  private readonly send = (trackers: PublishTracker[]): void => {
    const batch: Appends = { events: this.events, trackers };
    this.events = [];
    const deadline = Date.now() + this.host.publishTimeoutMs;
    const commands = this.host.openCommands();
    let sent: Promise<void>;
    try {
      sent = commands !== undefined && commands.ready ? this.write(commands, batch, deadline) : this.sendWhenReady(batch, deadline);
    } catch (err) {
      // This runs inside dispatch(): whatever goes wrong is the dispatches' failure, never the caller's exception.
      fail(batch, appendFailed(err));
      return;
    }
    this.sending.add(sent);
    void sent.finally(() => this.sending.delete(sent));
  };

  /** Waits (until the deadline) for the connection to be ready, then writes. */
  private async sendWhenReady(batch: Appends, deadline: number): Promise<void> {
    try {
      const commands = await this.host.commands();
      if (!(await commands.health.whenReady(deadline))) {
        fail(batch, unreachable(commands.client.status, commands.timeoutMs));
        return;
      }
      await this.write(commands, batch, deadline);
    } catch (err) {
      // Whatever goes wrong, every dispatch of the batch settles (settling one twice is a no-op).
      fail(batch, err instanceof DriverUnavailableError ? err : appendFailed(err));
    }
  }

  /** Writes the appends now (writes of MAX_PUBLISH_BATCH); settles every tracker by the deadline. */
  private write(commands: StreamCommands, batch: Appends, deadline: number): Promise<void> {
    const client = commands.client;
    const maxLen = String(this.host.maxLen);
    const cluster = isCluster(client);
    const chunks: Array<Promise<void>> = [];
    for (let from = 0; from < batch.events.length; from += MAX_PUBLISH_BATCH) {
      const to = Math.min(batch.events.length, from + MAX_PUBLISH_BATCH);
      // Only the last append of each stream in a pipeline trims it (MAXLEN ~): trimming on every
      // append cost the sender three arguments per event and Redis a trim per entry. A stream may
      // pass maxLen by at most one pipeline until its next trim.
      const streams = new Map<string, { key: string; last: number }>();
      for (let i = from; i < to; i++) {
        const name = batch.events[i].name;
        const stream = streams.get(name);
        if (stream === undefined) streams.set(name, { key: this.host.streamKey(name), last: i });
        else stream.last = i;
      }
      let exec: Promise<Array<[Error | null, unknown]> | null>;
      if (cluster) {
        exec = appendOnCluster(client as Cluster, batch, from, to, (i) => {
          const e = batch.events[i];
          const { key, last } = streams.get(e.name)!;
          return last === i ? [key, 'MAXLEN', '~', maxLen, '*', FIELD_ENVELOPE, e.payload] : [key, '*', FIELD_ENVELOPE, e.payload];
        });
      } else {
        exec =
          this.script.usable && to - from > 1
            ? appendScripted(this.script, client as Redis, batch, from, to, streams, maxLen)
            : appendCorked(client as Redis, batch, from, to, streams, maxLen);
      }
      const socket = commands.socket();
      chunks.push(
        // Fails at once when the connection drops before the replies came (ioredis would never settle it).
        beforeDeadline(commands.untilLost(exec, 'XADD'), deadline).then(
          (results) => {
            if (results === TIMED_OUT) {
              // A half-open connection: reset it, so what is still in the socket is never sent later.
              commands.stalled(socket, 'XADD');
              fail(batch, notConfirmed(commands.timeoutMs), from, to);
              return;
            }
            for (let i = from; i < to; i++) {
              const reply = results?.[i - from];
              batch.trackers[i].published(replyError(reply));
            }
          },
          (err: unknown) => fail(batch, err instanceof ConnectionLostError ? connectionLost(err) : appendFailed(err), from, to),
        ),
      );
    }
    return chunks.length === 1 ? chunks[0] : Promise.all(chunks).then(() => undefined);
  }
}

/**
 * The appends `from`..`to` on one connection: plain XADDs written with the socket corked, so they
 * leave in one write like a pipeline, without the two promises and the result array ioredis's
 * pipeline() adds per command. Settles with one `[error, id]` pair per append (the pipeline's shape)
 * once every reply came; a command ioredis fails (the connection dropped) fails its append only.
 */
function appendCorked(
  client: Redis,
  batch: Appends,
  from: number,
  to: number,
  streams: ReadonlyMap<string, { key: string; last: number }>,
  maxLen: string,
): Promise<Array<[Error | null, unknown]>> {
  return new Promise((resolve, reject) => {
    const replies: Array<[Error | null, unknown]> = new Array(to - from);
    let left = to - from;
    const ok = (): void => {
      if (--left === 0) resolve(replies);
    };
    const stream = client.stream;
    stream?.cork();
    try {
      for (let i = from; i < to; i++) {
        const e = batch.events[i];
        const { key, last } = streams.get(e.name)!;
        const k = i - from;
        replies[k] = OK_REPLY;
        (last === i
          ? client.xadd(key, 'MAXLEN', '~', maxLen, '*', FIELD_ENVELOPE, e.payload)
          : client.xadd(key, '*', FIELD_ENVELOPE, e.payload)
        ).then(ok, (err: Error) => {
          replies[k] = [err, null];
          ok();
        });
      }
    } catch (err) {
      reject(err);
    } finally {
      // Uncorked whatever happened: a corked socket would hold every later write.
      stream?.uncork();
    }
  });
}

/**
 * The appends `from`..`to` on one connection as batch scripts (one EVAL per MAX_SCRIPT_BATCH_CHARS of
 * envelopes): one command instead of one per event. Settles like appendCorked; where Redis refuses
 * scripts the appends go as plain commands instead (the script did not run).
 */
function appendScripted(
  script: BatchScript,
  client: Redis,
  batch: Appends,
  from: number,
  to: number,
  streams: ReadonlyMap<string, { key: string; last: number }>,
  maxLen: string,
): Promise<Array<[Error | null, unknown]>> {
  const replies: Array<[Error | null, unknown]> = new Array(to - from);
  const parts: Array<Promise<void>> = [];
  const stream = client.stream;
  stream?.cork();
  try {
    const charsAt = (i: number): number => batch.events[i].payload.length;
    let start = from;
    while (start < to) {
      const keys: string[] = [];
      const slots = new Map<string, number>();
      const appends: Array<string | number> = [];
      const end = scriptEnd(start, to, charsAt);
      for (let i = start; i < end; i++) {
        const e = batch.events[i];
        const { key, last } = streams.get(e.name)!;
        let slot = slots.get(key);
        if (slot === undefined) slots.set(key, (slot = keys.push(key)));
        appends.push(last === i ? -slot : slot, e.payload);
      }
      const first = start;
      const count = end - start;
      parts.push(
        script.run(client, [maxLen, keys.length, ...keys, ...appends]).then(
          (list) => {
            for (let i = 0; i < count; i++) {
              const failed = batchError(Array.isArray(list) ? list[i] : undefined);
              replies[first - from + i] = failed === undefined ? OK_REPLY : [refusal(failed), null];
            }
          },
          (err: Error) => {
            if (!script.refusedScripts(err)) {
              for (let i = 0; i < count; i++) replies[first - from + i] = [err, null];
              return;
            }
            return appendCorked(client, batch, first, first + count, streams, maxLen).then((plain) => {
              for (let i = 0; i < count; i++) replies[first - from + i] = plain[i];
            });
          },
        ),
      );
      start = end;
    }
  } finally {
    // Uncorked whatever happened: a corked socket would hold every later write.
    stream?.uncork();
  }
  return Promise.all(parts).then(() => replies);
}

/** Redis's refusal of one append inside a batch script, as the error a plain command would have had. */
function refusal(message: string): Error {
  const error = new Error(message);
  error.name = 'ReplyError';
  return error;
}

/** The reply of an append that succeeded (its id is not used): one shared pair, nothing per append. */
const OK_REPLY: [null, unknown] = [null, undefined];

/**
 * The appends `from`..`to` on a cluster: one pipeline per master (by the client's slot map), sent
 * together. A pipeline ioredis refuses because its map now puts the keys on several masters was
 * not sent: those appends go one command each. An append answered MOVED or ASK (a slot moved; not
 * executed) goes again as a single command, which follows the redirection, and the client refreshes
 * its map: ioredis does neither for a pipeline in which only some commands failed.
 */
function appendOnCluster(
  client: Cluster,
  batch: Appends,
  from: number,
  to: number,
  argsOf: (i: number) => Array<string | number>,
): Promise<Array<[Error | null, unknown]>> {
  const byMaster = new Map<string, number[]>();
  for (let i = from; i < to; i++) {
    const master = client.slots[keySlot(String(argsOf(i)[0]))]?.[0] ?? '';
    let indexes = byMaster.get(master);
    if (indexes === undefined) byMaster.set(master, (indexes = []));
    indexes.push(i);
  }
  const replies: Array<[Error | null, unknown]> = new Array(to - from);
  const one = (i: number): Promise<void> =>
    client.call('XADD', ...argsOf(i)).then(
      (id) => void (replies[i - from] = [null, id]),
      (err: Error) => void (replies[i - from] = [err, null]),
    );
  const sent = [...byMaster.values()].map(async (indexes) => {
    const pipeline = client.pipeline();
    for (const i of indexes) pipeline.call('XADD', ...argsOf(i));
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      if (!errorMessage(err).includes('slots allocation group')) throw err;
      await Promise.all(indexes.map(one));
      return;
    }
    indexes.forEach((i, k) => (replies[i - from] = results?.[k] ?? [new Error('no reply'), null]));
  });
  return Promise.all(sent).then(async () => {
    const redirected: number[] = [];
    for (let i = from; i < to; i++) {
      const error = replies[i - from]?.[0];
      if (error != null && /^(MOVED|ASK) /.test(error.message)) redirected.push(i);
    }
    if (redirected.length === 0) return replies;
    // Not executed: a single command follows the redirection itself.
    client.refreshSlotsCache(() => undefined);
    await Promise.all(redirected.map(one));
    return replies;
  });
}

/** Appends as two parallel arrays. */
interface Appends {
  readonly events: OutgoingEvent[];
  readonly trackers: PublishTracker[];
}

function fail(batch: Appends, error: unknown, from = 0, to = batch.trackers.length): void {
  for (let i = from; i < to; i++) batch.trackers[i].published(error);
}

/** The append's outcome from its pipeline reply (undefined: appended). */
function replyError(reply: [Error | null, unknown] | undefined): unknown {
  if (reply === undefined) return new DriverUnavailableError('Redis sent no reply for the append; it may still have been appended');
  const error = reply[0];
  if (error === null) return undefined;
  // ioredis aborts the rest of a pipeline whose connection closed after a partial reply.
  if (error.name === 'AbortError') return connectionLost(error);
  return isUnavailable(error) ? appendFailed(error) : error;
}

/** Never written: the connection was not ready by the deadline. */
function unreachable(status: string, timeoutMs: number): DriverUnavailableError {
  return new DriverUnavailableError(
    `Redis is unreachable (connection ${status}): the event was not sent within redis.publishTimeoutMs (${timeoutMs} ms) and will not be sent later`,
  );
}

/** Written, never answered: Redis may have appended it before it went silent. */
function notConfirmed(timeoutMs: number): DriverUnavailableError {
  return new DriverUnavailableError(
    `Redis did not confirm the append within redis.publishTimeoutMs (${timeoutMs} ms); it was not retried and may still have been appended (at-least-once delivery may then deliver it)`,
  );
}

/** Written, then the connection closed before the reply: the same uncertainty, reported at once. */
function connectionLost(cause: unknown): DriverUnavailableError {
  return new DriverUnavailableError(
    'the connection to Redis closed before Redis confirmed the append; it was not retried and may still have been appended (at-least-once delivery may then deliver it)',
    cause,
  );
}

/**
 * A per-command error that means "Redis could not take it now" (a connection lost in a failover, a
 * cluster without a master for the slot, a slot in motion), as opposed to a refusal of the command.
 */
const UNAVAILABLE =
  /^(Connection is closed|CLUSTERDOWN|TRYAGAIN|MOVED|ASK|Cluster isn't ready|Too many Cluster redirections|Stream isn't writeable|LOADING|READONLY|MASTERDOWN)/;

function isUnavailable(error: unknown): boolean {
  return error instanceof Error && UNAVAILABLE.test(error.message);
}

function appendFailed(err: unknown): DriverUnavailableError {
  return new DriverUnavailableError(`appending to Redis failed: ${errorMessage(err)}`, err);
}
