import { EventBusClosedError } from '../../../errors/event-bus-closed.error';
import { EventError, SUBSCRIBER } from '../../../errors/event.error';
import { MessageRejectedError } from '../../../errors/message-rejected.error';
import { DELIVERED, type DeliverFn, type DriverContext } from '../../../interfaces/event-bus-driver.interface';
import type { IncomingEvent } from '../../../interfaces/event-envelope.interface';
import { settlesBy } from '../../redis/shared/deadline';
import { ensureGroup } from '../consumer-group';
import type { DeadLetterReplayer } from '../dead-letter-stream';
import type { StreamCommands } from '../stream-commands';
import { FIELD_ENVELOPE, FIELD_EVENT_NAME, FIELD_HANDLE_ID } from '../stream-fields';
import type { StreamEntry } from '../stream-replies';
import { AckBatcher } from './ack-batcher';
import { DeadLetterer } from './dead-letterer';
import { BATCH, describe, type ConsumerState, type StreamConsumerSettings } from './consumer-settings';
import { EntryTracker } from './entry-tracker';
import { Reclaimer } from './reclaimer';
import { Redelivery } from './redelivery';
import type { ConsumerReader } from './stream-reader';
import { performance } from 'node:perf_hooks';
import type { OutgoingReport } from '../../../tracking/tracking-transport';

export type { StreamConsumerSettings } from './consumer-settings';

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

/**
 * One consumer group of one stream, delivering each entry to one listener: ack after success,
 * retry with backoff (the entry stays pending; its delivery count in Redis is the attempt number),
 * dead-letter after `maxAttempts`, reclaim entries that other consumers left idle for `claimIdleMs`.
 * It runs the read loop and decides each entry's outcome; its collaborators do the rest: the
 * reader (reads on the connections shared by every consumer), the reclaimer, the entry tracker (what it holds, the heartbeat),
 * redelivery (attempts and retries), the ack batcher and the dead-letterer.
 */
export class StreamConsumer implements DeadLetterReplayer {
  private readonly state: ConsumerState = { stopped: false, refused: false };
  private readonly reader: ConsumerReader;
  private readonly reclaimer: Reclaimer;
  private readonly tracker: EntryTracker;
  private readonly redelivery: Redelivery;
  private readonly acks: AckBatcher;
  private loopDone: Promise<void> = Promise.resolve();
  private needHistory = true;
  /** COUNT of the next XREADGROUP of new entries (BATCH to MAX_BATCH). */
  private readCount = BATCH;
  private wakeLoop: (() => void) | undefined;
  private readonly deadLetters: DeadLetterer;
  private stopDeferringReclaim: (() => void) | undefined;

  constructor(
    private readonly settings: StreamConsumerSettings,
    /** Appends, acks and claims, each with a deadline (a silent connection is reset). */
    private readonly commands: StreamCommands,
    /** Makes this consumer's reader; `onReconnect` runs when its connection is (back) up. */
    reader: (onReconnect: () => void) => ConsumerReader,
    private readonly context: DriverContext,
    private readonly deliver: DeliverFn,
    /** Sends a tracking report to the publisher of a tracked entry (see `finalOutcome`). */
    private readonly sendReport: (replyTo: string, report: OutgoingReport) => void = () => undefined,
  ) {
    const log: DriverContext['log'] = (level, message) => context.log(level, message);
    const { streamKey, group } = settings;
    this.reader = reader(() => {
      this.needHistory = true;
      this.wakeLoop?.();
    });
    this.acks = new AckBatcher(commands, streamKey, group, this.state, log);
    this.deadLetters = new DeadLetterer(commands, settings, log, (eventName, listener) =>
      this.context.reportDeadLetter?.(eventName, listener),
    );
    this.redelivery = new Redelivery(commands, settings, this.state, (entry, attempt) => this.startEntry(entry, attempt));
    this.tracker = new EntryTracker(commands, settings, this.redelivery.forEachWaiting, (visit) => this.acks.forEachUnconfirmed(visit));
    this.reclaimer = new Reclaimer(commands, settings, this.state, log, async (entries) =>
      this.runBatch(entries, await this.redelivery.attemptsOf(entries)),
    );
  }

  private get listenerName(): string {
    return this.settings.listener.name;
  }

  start(): void {
    this.reader.attach();
    // Keeps entries this consumer is working on (running, or waiting for a retry) from looking idle to the others.
    this.tracker.startHeartbeat();
    // Registered once connected (the group exists): every later 'ready' ends an outage.
    this.stopDeferringReclaim = this.commands.onReady(() => this.reclaimer.deferAfterOutage());
    this.loopDone = this.loop();
  }

  /**
   * Stops reading, lets running deliveries finish and acknowledges them, all before `deadline`.
   * Entries waiting for a retry stay pending with their attempt count: another replica (or this
   * service's next start) reclaims them after `claimIdleMs`.
   */
  async stop(deadline: number): Promise<void> {
    if (this.state.stopped) return;
    this.state.stopped = true;
    this.tracker.stopHeartbeat();
    this.stopDeferringReclaim?.();
    this.redelivery.cancelAll();
    this.wakeLoop?.();
    await this.reader.unblock();
    if (!(await settlesBy(this.loopDone, Math.min(deadline, Date.now() + this.settings.blockMs + 500)))) {
      // Still blocked (CLIENT UNBLOCK not allowed, or it raced the read): drop the connection.
      this.reader.drop();
      await settlesBy(this.loopDone, deadline);
    }
    await settlesBy(this.tracker.allSettled(), deadline);
    await this.acks.drain(deadline);
    this.reader.detach();
  }

  /** Delivers a dead letter's event once more to this consumer's listener (DeadLetterService.replay). */
  async replay(eventId: string, envelope: string, attempt: number): Promise<void> {
    const incoming = this.context.decode(envelope, this.settings.streamKey);
    await this.deliver(incoming, { id: eventId, attempt });
  }

  // ---------------------------------------------------------------- the read loop

  private async loop(): Promise<void> {
    const state = this.state;
    let failures = 0;
    while (!state.stopped) {
      try {
        if (state.refused) {
          await this.pause(1000);
          continue;
        }
        if (!this.reader.ready) {
          await this.pause(1000);
          continue;
        }
        if (this.redelivery.size >= MAX_RETRYING) {
          await this.pause(100);
          continue;
        }
        if (this.reclaimer.due) await this.acks.watchConfirmed(() => this.reclaimer.reclaim());
        if (this.needHistory) {
          // After a (re)connect: entries Redis handed to this consumer whose reply may have been lost.
          this.needHistory = false;
          await this.acks.watchConfirmed(() =>
            this.reader.readHistory(
              async (entries) => this.runBatch(entries, await this.redelivery.attemptsOf(entries)),
              () => state.stopped,
            ),
          );
        }
        if (state.stopped) break;
        const entries = await this.reader.readNew(this.readCount);
        if (entries.length > 0) {
          const started = Date.now();
          await this.runBatch(entries, undefined);
          // A full batch done quickly: read more at a time; a slow one: back to BATCH.
          if (Date.now() - started >= FAST_BATCH_MS) this.readCount = BATCH;
          else if (entries.length >= this.readCount) this.readCount = Math.min(MAX_BATCH, this.readCount * 2);
        }
        failures = 0;
      } catch (err) {
        if (state.stopped) break;
        failures++;
        this.needHistory = true;
        const message = describe(err);
        if (/NOGROUP/.test(message)) {
          // Redis lost the group (restarted without persistence, or someone deleted it): make it again, from the
          // start of what the stream holds now, so nothing appended since the loss is skipped (at-least-once).
          this.context.log(
            'warn',
            `consumer group '${this.settings.group}' on '${this.settings.streamKey}' is gone; creating it again from the stream's start`,
          );
          await ensureGroup(this.commands, this.settings.streamKey, this.settings.group, '0').catch(() => undefined);
        } else if (failures === 1 || failures % 50 === 0) {
          this.context.log('warn', `reading '${this.settings.streamKey}' for ${this.listenerName} failed (${message}); retrying`);
        }
        await this.pause(Math.min(2000, 50 * 2 ** Math.min(failures, 6)));
      }
    }
  }

  /**
   * Runs a batch of entries read together: sync listeners one at a time, in order; async listeners
   * the whole batch at once. `counts` (attempt numbers) is given for re-read or reclaimed entries,
   * undefined for new ones ('>': never delivered before).
   */
  private async runBatch(entries: StreamEntry[], counts: Map<string, number> | undefined): Promise<void> {
    // Re-read or reclaimed entries may be held here already, or acknowledged since.
    // An ack confirmed after Redis read them (the read and the ack race on two connections) counts as held.
    const fresh =
      counts === undefined ? entries : this.tracker.notHeld(entries, counts).filter((e) => !this.acks.confirmedDuringWatch(e.id));
    // A batch waiting its turn must not look idle to the other replicas.
    const batch = this.tracker.openBatch(fresh);
    const state = this.state;
    try {
      const next = async (): Promise<void> => {
        // After stop() the rest stay pending (reclaimed later): only what already runs is finished.
        while (batch.next < fresh.length && !state.stopped && !state.refused) {
          const entry = fresh[batch.next++];
          const run = this.startEntry(entry, counts?.get(entry.id) ?? 1);
          if (run !== undefined) await run;
        }
      };
      if (this.settings.listener.options.async === true) {
        // Async listeners take the batch at once, but never more than their `concurrency`: an entry
        // the listener's queue would refuse is better left in Redis for a replica with room.
        const limit = Math.max(1, this.settings.listener.options.concurrency ?? fresh.length);
        await Promise.all(Array.from({ length: Math.min(limit, fresh.length) }, next));
      } else {
        await next();
      }
    } finally {
      this.tracker.closeBatch(batch);
    }
    // Read but never run: reading them counted an attempt that never happened.
    if (batch.next < fresh.length) {
      await this.redelivery.giveBack(fresh.slice(batch.next).map((e) => ({ id: e.id, attempt: counts?.get(e.id) ?? 1 })));
    }
  }

  // ---------------------------------------------------------------- one entry

  /**
   * Starts one entry as `attempt`: its outcome is an ack, a scheduled retry, a dead letter, or the
   * entry left pending. Returns what to wait for (undefined when it finished at once); never throws
   * or rejects.
   */
  private startEntry(entry: StreamEntry, attempt: number): Promise<void> | undefined {
    if (entry.fields === null) {
      // Trimmed away (maxLen) while pending: nothing is left to deliver.
      this.acks.ack(entry.id);
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
          : new MessageRejectedError(this.settings.streamKey, Buffer.byteLength(raw), describe(err));
      return this.reject(entry, rejected, attempt);
    }
    if (attempt > this.settings.maxAttempts) {
      const cause = new Error(
        `attempt ${attempt - 1} of ${this.settings.maxAttempts} never finished (its consumer died or stalled past claimIdleMs)`,
      );
      this.report(incoming, cause);
      this.finalOutcome(incoming, attempt - 1, cause, 0);
      return this.deadLetters.write(entry, attempt - 1, cause, undefined, incoming.handleId);
    }
    const id = entry.id;
    const startedAt = incoming.replyTo === undefined ? 0 : performance.now();
    let delivered: Promise<void>;
    try {
      delivered = this.deliver(incoming, { id, attempt });
    } catch (err) {
      delivered = Promise.reject(err);
    }
    if (delivered === DELIVERED) {
      // The listener finished before returning: acknowledged now, with no reaction or running entry.
      this.acks.ack(id);
      if (incoming.replyTo !== undefined) this.finalOutcome(incoming, attempt, undefined, performance.now() - startedAt);
      return undefined;
    }
    const running = this.tracker.running;
    // One reaction per entry: success moves it from running to the ack queue at once.
    const run = delivered.then(
      () => {
        running.delete(id);
        this.acks.ack(id);
        if (incoming.replyTo !== undefined) this.finalOutcome(incoming, attempt, undefined, performance.now() - startedAt);
      },
      (err: unknown) =>
        this.failed(entry, incoming, attempt, err, startedAt).then(
          () => void running.delete(id),
          () => void running.delete(id),
        ),
    );
    running.set(id, run);
    return run;
  }

  private async failed(entry: StreamEntry, incoming: IncomingEvent, attempt: number, error: unknown, startedAt = 0): Promise<void> {
    if (error instanceof EventBusClosedError) {
      // The listener closed under it (shutdown, unregistered): not its failure. Left pending, with the
      // attempt given back, for whoever reclaims it; this consumer reads nothing more.
      this.state.refused = true;
      await this.redelivery.giveBack([{ id: entry.id, attempt }]);
      return;
    }
    if (this.state.stopped) return; // left pending with its count; reclaimed later
    if (attempt >= this.settings.maxAttempts) {
      this.report(incoming, error);
      this.finalOutcome(incoming, attempt, error, startedAt === 0 ? 0 : performance.now() - startedAt);
      await this.deadLetters.write(entry, attempt, error, undefined, incoming.handleId);
      return;
    }
    const delayMs = this.redelivery.delayAfter(attempt);
    this.context.log(
      'debug',
      `${this.listenerName}: attempt ${attempt} of ${this.settings.maxAttempts} for ${entry.id} failed (${describe(error)}); retrying in ${Math.round(delayMs)} ms`,
    );
    this.context.reportRetry?.(this.listenerName, attempt, error, delayMs, incoming.name);
    this.redelivery.schedule(entry, attempt + 1, delayMs);
  }

  /** A malformed or oversize entry: dead-lettered with the reason, reported, never retried. */
  private async reject(entry: StreamEntry, error: MessageRejectedError, attempt: number): Promise<void> {
    const fields = entry.fields ?? {};
    this.context.reportError(
      new EventError(fields[FIELD_EVENT_NAME] || this.settings.eventName, SUBSCRIBER, fields[FIELD_HANDLE_ID] ?? '', error),
    );
    await this.deadLetters.write(entry, attempt, error, error.reason);
  }

  /**
   * A tracked entry's final outcome in this group (handled after `attempts` deliveries, or given up
   * on with its last error), reported once to the publisher; the group is the listener's name there.
   */
  private finalOutcome(incoming: IncomingEvent, attempts: number, error: unknown, durationMs: number): void {
    const replyTo = incoming.replyTo;
    if (replyTo === undefined) return;
    const group = this.settings.group;
    const outcome =
      error === undefined
        ? { listener: group, ok: true, attempts, durationMs }
        : { listener: group, ok: false, error, attempts, durationMs };
    try {
      this.sendReport(replyTo, { handleId: incoming.handleId, name: incoming.name, via: group, outcomes: [outcome] });
    } catch {
      // A report that cannot be built or sent is dropped: the publisher's timeout names this group.
    }
  }

  private report(incoming: IncomingEvent, error: unknown): void {
    this.context.reportError(new EventError(incoming.name, this.listenerName, incoming.handleId, error));
  }

  /** Sleeps `ms`, or less when a reconnect or `stop()` wakes the loop. */
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
