import { EventBusClosedError } from '../../../errors/event-bus-closed.error';
import { EventError, SUBSCRIBER } from '../../../errors/event.error';
import { MessageRejectedError } from '../../../errors/message-rejected.error';
import type { DeliverFn, DriverContext, DriverListener } from '../../../interfaces/event-bus-driver.interface';
import type { IncomingEvent } from '../../../interfaces/event-envelope.interface';
import type { RedisClient } from '../../redis/shared/redis-connection';
import type { StreamCommands } from '../stream-commands';
import { backoffSchedule, jitteredBackoffDelay, type BackoffSchedule } from '../../../delivery/backoff';
import { writeDeadLetter, type DeadLetterRecord } from '../dead-letter-stream';
import { FIELD_ENVELOPE, FIELD_EVENT_NAME, FIELD_HANDLE_ID } from '../stream-fields';
import { consumerInfos, deliveryCounts, entriesOfReadReply, parseAutoClaimReply, type StreamEntry } from '../stream-replies';

/** Entries read together; those from `next` on have not started. */
interface Batch {
  readonly entries: StreamEntry[];
  next: number;
}

/** Everything one consumer (one listener's consumer group on one stream) needs. */
export interface StreamConsumerSettings {
  readonly eventName: string;
  readonly streamKey: string;
  readonly deadLetterKey: string;
  /** `streams.group + ':' + listener name`. */
  readonly group: string;
  /** This replica's consumer name inside the group. */
  readonly consumer: string;
  readonly listener: DriverListener;
  readonly maxAttempts: number;
  readonly claimIdleMs: number;
  readonly blockMs: number;
  readonly maxLen: number;
  /** Where the group starts if it has to be created again (Redis lost it). */
  readonly startId: '$' | '0';
}

/** Entries read per XAUTOCLAIM / re-read of pending entries, and per XREADGROUP of new ones at first. */
const BATCH = 100;
/**
 * At most this many new entries per XREADGROUP, while a listener works through a whole batch within
 * FAST_BATCH_MS (fewer round trips and acks per entry: ~+15% throughput). A slow listener keeps
 * reading BATCH at a time, so one replica does not take (and hold) a thousand entries the others
 * could be working on.
 */
const MAX_BATCH = 1000;
const FAST_BATCH_MS = 100;
/** Entries waiting for a retry before the consumer stops reading new ones (back-pressure). */
const MAX_RETRYING = 1000;
/** Extra time a blocking read may take beyond BLOCK before the connection is presumed dead. */
const WATCHDOG_GRACE_MS = 5000;

/**
 * Reads one consumer group of one stream on its own blocking connection and delivers each entry
 * to one listener: ack after success, retry with backoff (the entry stays pending; its delivery
 * count in Redis is the attempt number), dead-letter after `maxAttempts`, reclaim entries that
 * other consumers left idle for `claimIdleMs`.
 */
export class StreamConsumer {
  /** The listener's `retry.backoff`: the same schedule its in-process retries would wait. */
  private readonly backoff: BackoffSchedule;
  private stopped = false;
  /** The bus refused a delivery (it is closing, or the listener was unregistered): read nothing more; stop() follows. */
  private refused = false;
  private loopDone: Promise<void> = Promise.resolve();
  /** Deliveries in progress, by entry id. */
  private readonly running = new Map<string, Promise<void>>();
  /** Batches being worked through: their entries from `next` on wait their turn (kept fresh by the heartbeat). */
  private readonly batches = new Set<Batch>();
  /** Entries waiting for their next attempt, by entry id. */
  private readonly retrying = new Map<string, NodeJS.Timeout>();
  /** Succeeded, in an XACK Redis has not confirmed yet (arrays, not a set of ids: nothing per entry). */
  private readonly acksInFlight = new Set<string[]>();
  /** Succeeded, XACK not sent yet. */
  private ackQueue: string[] = [];
  /** The flush of this tick's acks, or the retry of a failed one. */
  private ackSoon: NodeJS.Immediate | undefined;
  private ackLater: NodeJS.Timeout | undefined;
  private acking: Promise<void> = Promise.resolve();
  private needHistory = true;
  /** COUNT of the next XREADGROUP of new entries (BATCH to MAX_BATCH). */
  private readCount = BATCH;
  private lastReclaim = 0;
  private lastCleanup = 0;
  private readerId: number | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private abortRead: ((reason: Error) => void) | undefined;
  private wakeLoop: (() => void) | undefined;
  private readonly onReaderReady = (): void => {
    this.readerId = undefined;
    this.needHistory = true;
    this.wakeLoop?.();
  };
  private readonly onReaderClose = (): void => {
    this.abortRead?.(new Error(`connection of consumer '${this.settings.consumer}' on '${this.settings.streamKey}' closed during a read`));
  };

  constructor(
    private readonly settings: StreamConsumerSettings,
    /** Appends, acks and claims, each with a deadline (a silent connection is reset). */
    private readonly command: StreamCommands,
    private readonly reader: RedisClient,
    private readonly context: DriverContext,
    private readonly deliver: DeliverFn,
  ) {
    this.backoff = backoffSchedule(settings.listener.options.retry?.backoff);
  }

  get listenerName(): string {
    return this.settings.listener.name;
  }

  get group(): string {
    return this.settings.group;
  }

  start(): void {
    this.reader.on('ready', this.onReaderReady);
    this.reader.on('close', this.onReaderClose);
    // Keeps entries this consumer is working on (running, or waiting for a retry) from looking idle to the others.
    this.heartbeat = setInterval(() => this.touch(), Math.max(50, Math.floor(this.settings.claimIdleMs / 3)));
    this.heartbeat.unref?.();
    this.loopDone = this.loop();
  }

  /**
   * Stops reading, lets running deliveries finish and acknowledges them, all before `deadline`.
   * Entries waiting for a retry stay pending with their attempt count: another replica (or this
   * service's next start) reclaims them after `claimIdleMs`.
   */
  async stop(deadline: number): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.heartbeat);
    for (const timer of this.retrying.values()) clearTimeout(timer);
    this.retrying.clear();
    this.wakeLoop?.();
    await this.unblock();
    if (!(await settlesBy(this.loopDone, Math.min(deadline, Date.now() + this.settings.blockMs + 500)))) {
      // Still blocked (CLIENT UNBLOCK not allowed, or it raced the read): drop the connection.
      this.reader.disconnect();
      this.abortRead?.(new Error('consumer stopped'));
      await settlesBy(this.loopDone, deadline);
    }
    await settlesBy(Promise.allSettled([...this.running.values()]), deadline);
    while ((this.ackQueue.length > 0 || this.acksInFlight.size > 0) && Date.now() < deadline) {
      await settlesBy(this.flushAcks(), deadline);
      if (this.ackQueue.length > 0) await sleep(Math.min(100, Math.max(0, deadline - Date.now())));
    }
    this.cancelAckTimer();
    this.reader.off('ready', this.onReaderReady);
    this.reader.off('close', this.onReaderClose);
  }

  /** Delivers a dead letter's event once more to this consumer's listener (DeadLetterService.replay). */
  async replay(eventId: string, envelope: string, attempt: number): Promise<void> {
    const incoming = this.context.decode(envelope, this.settings.streamKey);
    await this.deliver(incoming, { id: eventId, attempt });
  }

  // ---------------------------------------------------------------- the read loop

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      try {
        if (this.refused) {
          await this.pause(1000);
          continue;
        }
        if (!(await this.readerReady())) continue;
        if (this.retrying.size >= MAX_RETRYING) {
          await this.pause(100);
          continue;
        }
        const reclaimEvery = Math.max(100, Math.floor(this.settings.claimIdleMs / 2));
        if (Date.now() - this.lastReclaim >= reclaimEvery) {
          this.lastReclaim = Date.now();
          await this.reclaim();
        }
        if (this.needHistory) {
          // After a (re)connect: entries Redis handed to this consumer whose reply may have been lost.
          this.needHistory = false;
          await this.readHistory();
        }
        if (this.stopped) break;
        const entries = await this.readNew();
        if (entries.length > 0) {
          const started = Date.now();
          await this.process(entries, undefined);
          // A full batch done quickly: read more at a time; a slow one: back to BATCH.
          if (Date.now() - started >= FAST_BATCH_MS) this.readCount = BATCH;
          else if (entries.length >= this.readCount) this.readCount = Math.min(MAX_BATCH, this.readCount * 2);
        }
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        failures++;
        this.needHistory = true;
        const message = (err as Error)?.message ?? String(err);
        if (/NOGROUP/.test(message)) {
          // Redis lost the group (restarted without persistence, or someone deleted it): make it again, from the
          // start of what the stream holds now, so nothing appended since the loss is skipped (at-least-once).
          this.context.log(
            'warn',
            `consumer group '${this.settings.group}' on '${this.settings.streamKey}' is gone; creating it again from the stream's start`,
          );
          await ensureGroup(this.command, this.settings.streamKey, this.settings.group, '0').catch(() => undefined);
        } else if (failures === 1 || failures % 50 === 0) {
          this.context.log('warn', `reading '${this.settings.streamKey}' for ${this.listenerName} failed (${message}); retrying`);
        }
        await this.pause(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /** Waits until the reader connection is ready (false when stopped or after a short wait). */
  private async readerReady(): Promise<boolean> {
    if (this.reader.status === 'ready') return !this.stopped;
    await this.pause(1000);
    return false;
  }

  private async readNew(): Promise<StreamEntry[]> {
    if (this.readerId === undefined) {
      // For CLIENT UNBLOCK at shutdown; an ACL that forbids CLIENT ID only makes shutdown drop the connection instead.
      this.readerId = Number(await this.reader.call('CLIENT', 'ID').catch(() => -1));
    }
    const { group, consumer, blockMs, streamKey } = this.settings;
    const read = this.reader.call(
      'XREADGROUP',
      'GROUP',
      group,
      consumer,
      'COUNT',
      this.readCount,
      'BLOCK',
      blockMs,
      'STREAMS',
      streamKey,
      '>',
    );
    const reply = await this.guard(read, blockMs + Math.max(WATCHDOG_GRACE_MS, blockMs));
    return entriesOfReadReply(reply, streamKey);
  }

  /** This consumer's own pending entries, oldest first, delivered again. */
  private async readHistory(): Promise<void> {
    const { group, consumer, streamKey } = this.settings;
    let from = '0';
    while (!this.stopped) {
      // Guarded like a blocking read: a half-open connection would otherwise stall this consumer for good.
      const read = this.reader.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', BATCH, 'STREAMS', streamKey, from);
      const reply = await this.guard(read, Math.max(WATCHDOG_GRACE_MS, this.settings.blockMs));
      const entries = entriesOfReadReply(reply, streamKey);
      if (entries.length === 0) return;
      await this.process(entries, await this.countsOf(entries));
      from = entries[entries.length - 1].id;
      if (entries.length < BATCH) return;
    }
  }

  /** Takes over entries idle for `claimIdleMs` (their consumer died or stalled). */
  private async reclaim(): Promise<void> {
    const { streamKey, group, consumer, claimIdleMs } = this.settings;
    await this.forgetGoneConsumers();
    let cursor = '0-0';
    for (let page = 0; page < 10 && !this.stopped; page++) {
      const reply = await this.command.call('XAUTOCLAIM', streamKey, group, consumer, claimIdleMs, cursor, 'COUNT', BATCH);
      const { cursor: next, entries } = parseAutoClaimReply(reply);
      if (entries.length > 0) {
        this.context.log(
          'debug',
          `${this.listenerName}: reclaimed ${entries.length} idle entr${entries.length === 1 ? 'y' : 'ies'} of '${streamKey}'`,
        );
        await this.process(entries, await this.countsOf(entries));
      }
      cursor = next;
      if (cursor === '0-0') return;
    }
  }

  /**
   * Replicas that stopped leave their consumer behind in the group (names differ per process). One
   * that holds nothing and was not seen for a while is deleted; deleting a consumer with no pending
   * entries loses nothing, even if it was alive after all (its next read re-creates it).
   */
  private async forgetGoneConsumers(): Promise<void> {
    const { streamKey, group, consumer, claimIdleMs, blockMs } = this.settings;
    const goneAfterMs = Math.max(2 * claimIdleMs, 10 * blockMs);
    if (Date.now() - this.lastCleanup < goneAfterMs / 2) return;
    this.lastCleanup = Date.now();
    const rows = await this.command.call('XINFO', 'CONSUMERS', streamKey, group);
    for (const info of consumerInfos(rows)) {
      if (info.name !== consumer && info.pending === 0 && info.idle > goneAfterMs) {
        await this.command.call('XGROUP', 'DELCONSUMER', streamKey, group, info.name);
        this.context.log(
          'debug',
          `${this.listenerName}: removed consumer '${info.name}' of '${group}' (idle ${info.idle} ms, nothing pending)`,
        );
      }
    }
  }

  /**
   * Delivery counts (= attempt numbers) of entries this consumer holds. An entry missing from the
   * result is no longer pending here (acknowledged meanwhile, or claimed by another consumer).
   * One exact query per entry: a range query with COUNT could be cut short by other pending entries.
   */
  private async countsOf(entries: StreamEntry[]): Promise<Map<string, number>> {
    const { streamKey, group, consumer } = this.settings;
    const replies = await Promise.all(entries.map((e) => this.command.call('XPENDING', streamKey, group, e.id, e.id, 1, consumer)));
    const counts = new Map<string, number>();
    for (const reply of replies) for (const [id, count] of deliveryCounts(reply)) counts.set(id, count);
    return counts;
  }

  /** Sync listeners take entries one at a time, in order; async listeners a whole batch at once. */
  private async process(entries: StreamEntry[], counts: Map<string, number> | undefined): Promise<void> {
    // New entries ('>') were never delivered; re-read or reclaimed ones may be known here already, or
    // acknowledged since (missing from `counts`: their ack raced the read).
    const fresh = counts === undefined ? entries : this.unknown(entries, counts);
    // A batch waiting its turn must not look idle to the other replicas.
    const batch: Batch = { entries: fresh, next: 0 };
    this.batches.add(batch);
    try {
      if (this.settings.listener.options.async === true) {
        // Async listeners take the batch at once, but never more than their `concurrency`: an entry
        // the listener's queue would refuse is better left in Redis for a replica with room.
        const limit = Math.max(1, this.settings.listener.options.concurrency ?? fresh.length);
        const lane = async (): Promise<void> => {
          while (batch.next < fresh.length && !this.stopped && !this.refused) {
            const entry = fresh[batch.next++];
            const run = this.handle(entry, counts?.get(entry.id) ?? 1);
            if (run !== undefined) await run;
          }
        };
        await Promise.all(Array.from({ length: Math.min(limit, fresh.length) }, lane));
      } else {
        // After stop() the rest stay pending (reclaimed later): only what already runs is finished.
        while (batch.next < fresh.length && !this.stopped && !this.refused) {
          const entry = fresh[batch.next++];
          const run = this.handle(entry, counts?.get(entry.id) ?? 1);
          if (run !== undefined) await run;
        }
      }
    } finally {
      this.batches.delete(batch);
    }
    // Read but never run: reading them counted an attempt that never happened.
    if (batch.next < fresh.length) {
      await this.giveBack(fresh.slice(batch.next).map((e) => ({ id: e.id, attempt: counts?.get(e.id) ?? 1 })));
    }
  }

  /** The entries not already running, waiting (for a retry or their turn), or acknowledged meanwhile. */
  private unknown(entries: StreamEntry[], counts: Map<string, number>): StreamEntry[] {
    const held = new Set<string>();
    for (const batch of this.batches) for (let i = batch.next; i < batch.entries.length; i++) held.add(batch.entries[i].id);
    for (const id of this.ackQueue) held.add(id);
    for (const ids of this.acksInFlight) for (const id of ids) held.add(id);
    return entries.filter((e) => counts.has(e.id) && !held.has(e.id) && !this.running.has(e.id) && !this.retrying.has(e.id));
  }

  /**
   * Leaves entries pending for whoever reclaims them, with the attempt they were read as given back
   * (it never ran) and marked idle, so another replica takes them at its next reclaim pass.
   */
  private async giveBack(entries: ReadonlyArray<{ id: string; attempt: number }>): Promise<void> {
    const { streamKey, group, consumer, claimIdleMs } = this.settings;
    const byCount = new Map<number, string[]>();
    for (const { id, attempt } of entries) {
      const count = Math.max(0, attempt - 1);
      byCount.set(count, [...(byCount.get(count) ?? []), id]);
    }
    for (const [count, ids] of byCount) {
      await this.command
        .call('XCLAIM', streamKey, group, consumer, 0, ...ids, 'IDLE', claimIdleMs, 'RETRYCOUNT', count, 'JUSTID')
        .catch(() => undefined);
    }
  }

  // ---------------------------------------------------------------- one entry

  /**
   * Starts one entry: its outcome is an ack, a scheduled retry, a dead letter, or the entry left
   * pending. Returns what to wait for (undefined when it finished at once); never throws or rejects.
   */
  private handle(entry: StreamEntry, attempt: number): Promise<void> | undefined {
    if (entry.fields === null) {
      // Trimmed away (maxLen) while pending: nothing is left to deliver.
      this.ack(entry.id);
      return undefined;
    }
    const raw = entry.fields[FIELD_ENVELOPE];
    if (raw === undefined) {
      return this.reject(entry, new MessageRejectedError(this.settings.streamKey, 0, `entry has no '${FIELD_ENVELOPE}' field`), attempt);
    }
    let incoming: IncomingEvent;
    try {
      incoming = this.context.decode(raw, this.settings.streamKey);
    } catch (err) {
      const rejected =
        err instanceof MessageRejectedError
          ? err
          : new MessageRejectedError(this.settings.streamKey, Buffer.byteLength(raw), (err as Error)?.message ?? String(err));
      return this.reject(entry, rejected, attempt);
    }
    if (attempt > this.settings.maxAttempts) {
      const cause = new Error(
        `attempt ${attempt - 1} of ${this.settings.maxAttempts} never finished (its consumer died or stalled past claimIdleMs)`,
      );
      this.report(incoming, cause);
      return this.deadLetter(entry, attempt - 1, cause, undefined, incoming.handleId);
    }
    const id = entry.id;
    let delivered: Promise<void>;
    try {
      delivered = this.deliver(incoming, { id, attempt });
    } catch (err) {
      delivered = Promise.reject(err);
    }
    // One reaction per entry: success moves it from running to the ack queue at once.
    const run = delivered.then(
      () => {
        this.running.delete(id);
        this.ack(id);
      },
      (err: unknown) =>
        this.failed(entry, incoming, attempt, err).then(
          () => void this.running.delete(id),
          () => void this.running.delete(id),
        ),
    );
    this.running.set(id, run);
    return run;
  }

  private async failed(entry: StreamEntry, incoming: IncomingEvent, attempt: number, error: unknown): Promise<void> {
    if (error instanceof EventBusClosedError) {
      // The listener closed under it (shutdown, unregistered): not its failure. Left pending, with the
      // attempt given back, for whoever reclaims it; this consumer reads nothing more.
      this.refused = true;
      await this.giveBack([{ id: entry.id, attempt }]);
      return;
    }
    if (this.stopped) return; // left pending with its count; reclaimed later
    if (attempt >= this.settings.maxAttempts) {
      this.report(incoming, error);
      await this.deadLetter(entry, attempt, error, undefined, incoming.handleId);
      return;
    }
    const delayMs = jitteredBackoffDelay(this.backoff, attempt);
    this.context.log(
      'debug',
      `${this.listenerName}: attempt ${attempt} of ${this.settings.maxAttempts} for ${entry.id} failed (${describe(error)}); retrying in ${Math.round(delayMs)} ms`,
    );
    this.context.reportRetry?.(this.listenerName, attempt, error, delayMs);
    this.scheduleRetry(entry, attempt + 1, delayMs);
  }

  private scheduleRetry(entry: StreamEntry, attempt: number, delayMs: number): void {
    const timer = setTimeout(() => {
      this.retrying.delete(entry.id);
      void this.retry(entry, attempt);
    }, delayMs);
    timer.unref?.();
    this.retrying.set(entry.id, timer);
  }

  private async retry(entry: StreamEntry, attempt: number): Promise<void> {
    if (this.stopped) return;
    const { streamKey, group, consumer } = this.settings;
    let claimed: unknown;
    try {
      // Records the attempt in Redis first, so a crash during it is counted by whoever reclaims it.
      claimed = await this.command.call('XCLAIM', streamKey, group, consumer, 0, entry.id, 'RETRYCOUNT', attempt, 'JUSTID');
    } catch {
      if (!this.stopped) this.scheduleRetry(entry, attempt, 1000);
      return;
    }
    if (!Array.isArray(claimed) || claimed.length === 0) return; // no longer pending: acknowledged or deleted meanwhile
    if (this.stopped || this.refused) {
      // Stopped while claiming: the attempt is not made here.
      await this.giveBack([{ id: entry.id, attempt }]);
      return;
    }
    await this.handle(entry, attempt);
  }

  /** A malformed or oversize entry: dead-lettered with the reason, reported, never retried. */
  private async reject(entry: StreamEntry, error: MessageRejectedError, attempt: number): Promise<void> {
    const fields = entry.fields ?? {};
    this.context.reportError(
      new EventError(fields[FIELD_EVENT_NAME] || this.settings.eventName, SUBSCRIBER, fields[FIELD_HANDLE_ID] ?? '', error),
    );
    await this.deadLetter(entry, attempt, error, error.reason);
  }

  private report(incoming: IncomingEvent, error: unknown): void {
    this.context.reportError(new EventError(incoming.name, this.listenerName, incoming.handleId, error));
  }

  /** Moves the entry to the dead-letter stream (and acknowledges it); on failure it stays pending. */
  private async deadLetter(
    entry: StreamEntry,
    attempts: number,
    error: unknown,
    reason: string | undefined,
    handleId?: string,
  ): Promise<void> {
    const { streamKey, deadLetterKey, group, consumer, maxLen, eventName } = this.settings;
    const source = entry.fields ?? {};
    const record: DeadLetterRecord = {
      eventId: entry.id,
      eventName: source[FIELD_EVENT_NAME] || eventName,
      handleId: handleId ?? source[FIELD_HANDLE_ID] ?? '',
      streamKey,
      group,
      listener: this.listenerName,
      consumer,
      attempts,
      error: describe(error),
      ...(reason !== undefined ? { reason } : {}),
      envelope: source[FIELD_ENVELOPE] ?? '',
    };
    try {
      await writeDeadLetter(this.command, record, maxLen);
      this.context.log(
        'warn',
        `${this.listenerName}: entry ${entry.id} of '${streamKey}' moved to '${deadLetterKey}' after ${attempts} attempt(s): ${reason ?? describe(error)}`,
      );
    } catch (err) {
      // Left pending: reclaimed after claimIdleMs, then dead-lettered again.
      this.context.log(
        'error',
        `${this.listenerName}: could not dead-letter ${entry.id} of '${streamKey}' (${describe(err)}); it stays pending`,
      );
    }
  }

  // ---------------------------------------------------------------- acks

  private ack(id: string): void {
    this.ackQueue.push(id);
    if (this.ackSoon === undefined && this.ackLater === undefined) this.ackSoon = setImmediate(() => void this.flushAcks());
  }

  private cancelAckTimer(): void {
    if (this.ackSoon !== undefined) clearImmediate(this.ackSoon);
    if (this.ackLater !== undefined) clearTimeout(this.ackLater);
    this.ackSoon = undefined;
    this.ackLater = undefined;
  }

  /** One XACK for every id acknowledged since the last flush; on failure they are tried again. */
  private flushAcks(): Promise<void> {
    this.cancelAckTimer();
    if (this.ackQueue.length === 0) return this.acking;
    const ids = this.ackQueue;
    this.ackQueue = [];
    const { streamKey, group } = this.settings;
    this.acksInFlight.add(ids);
    this.acking = this.acking.then(async () => {
      try {
        await this.command.call('XACK', streamKey, group, ...ids);
        this.acksInFlight.delete(ids);
      } catch (err) {
        this.acksInFlight.delete(ids);
        this.ackQueue.push(...ids);
        this.context.log(
          'warn',
          `acknowledging ${ids.length} entr${ids.length === 1 ? 'y' : 'ies'} of '${streamKey}' failed (${describe(err)}); retrying`,
        );
        if (!this.stopped && this.ackSoon === undefined && this.ackLater === undefined) {
          this.ackLater = setTimeout(() => void this.flushAcks(), 500);
          this.ackLater.unref?.();
        }
      }
    });
    return this.acking;
  }

  // ---------------------------------------------------------------- connection helpers

  /** Resets the idle time of entries this consumer is working on. */
  private touch(): void {
    const ids = new Set<string>(this.running.keys());
    for (const id of this.retrying.keys()) ids.add(id);
    for (const batch of this.batches) for (let i = batch.next; i < batch.entries.length; i++) ids.add(batch.entries[i].id);
    if (ids.size === 0 || !this.command.ready) return;
    const { streamKey, group, consumer } = this.settings;
    this.command.call('XCLAIM', streamKey, group, consumer, 0, ...ids, 'JUSTID').catch(() => undefined);
  }

  /** A read that settles when the connection closes or stays silent too long (then it is dropped and re-made). */
  private guard<T>(read: Promise<T>, timeoutMs: number): Promise<T> {
    read.catch(() => undefined);
    return new Promise<T>((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.abortRead = undefined;
      };
      const timer = setTimeout(() => {
        finish();
        this.context.log('warn', `no answer to a read on '${this.settings.streamKey}' within ${timeoutMs} ms; reconnecting`);
        this.reader.disconnect(true);
        reject(new Error('blocking read timed out'));
      }, timeoutMs);
      this.abortRead = (reason) => {
        finish();
        reject(reason);
      };
      read.then(
        (value) => {
          finish();
          resolve(value);
        },
        (err: unknown) => {
          finish();
          reject(err);
        },
      );
    });
  }

  /** Wakes a blocked XREADGROUP so the loop sees `stopped` at once. */
  private async unblock(): Promise<void> {
    const id = this.readerId;
    if (id === undefined || id < 0 || Number.isNaN(id) || !this.command.ready || this.command.client === this.reader) return;
    try {
      await settlesBy(this.command.call('CLIENT', 'UNBLOCK', id), Date.now() + 1000);
    } catch {
      // Not allowed by an ACL: stop() drops the connection instead.
    }
  }

  /** Sleeps `ms`, or less when `onReaderReady` or `stop()` wakes the loop. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wakeLoop === done) this.wakeLoop = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref?.();
      this.wakeLoop = done;
    });
  }
}

/** Creates a consumer group if it does not exist (an existing group, or an empty stream, is fine). */
export async function ensureGroup(command: StreamCommands, streamKey: string, group: string, startId: '$' | '0'): Promise<void> {
  try {
    await command.call('XGROUP', 'CREATE', streamKey, group, startId, 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error)?.message).startsWith('BUSYGROUP')) throw err;
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref?.();
  });
}

/** True when `promise` settled before `deadline` (epoch ms); never rejects. */
async function settlesBy(promise: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
