import type { DeadLetter, ListDeadLettersOptions } from '../../dead-letters/dead-letter.interface';
import type { DeadLetterStore } from '../../dead-letters/dead-letter-store.interface';
import { DEFAULT_DEAD_LETTER_PAGE } from '../redis/redis.defaults';
import type { StreamCommands } from './stream-commands';
import { toEntries } from './stream-replies';

/**
 * The dead-letter stream of an event (`prefix + name + ':dlq'`): the one place that knows its entry
 * schema, for writing (the consumer gives up on an entry) and reading (`DeadLetterService`).
 */

/** Field names of a dead-letter entry. */
const FIELD = {
  eventId: 'event_id',
  eventName: 'event_name',
  handleId: 'handle_id',
  stream: 'stream',
  group: 'group',
  listener: 'listener',
  consumer: 'consumer',
  attempts: 'attempts',
  error: 'error',
  failedAt: 'failed_at',
  size: 'size',
  reason: 'reason',
  truncated: 'truncated',
  envelope: 'envelope',
} as const;

/** Dead letters keep at most this much of an envelope that was itself over the size limit. */
export const DEAD_LETTER_ENVELOPE_LIMIT = 4096;

/** Stream key of an event's dead letters. */
export function deadLetterKey(streamKey: string): string {
  return `${streamKey}:dlq`;
}

/** What the consumer knows about an entry it gives up on. */
export interface DeadLetterRecord {
  /** The source entry id. */
  readonly eventId: string;
  readonly eventName: string;
  readonly handleId: string;
  readonly streamKey: string;
  readonly group: string;
  readonly listener: string;
  readonly consumer: string;
  readonly attempts: number;
  readonly error: string;
  /** Set when the entry itself was unusable (it never reached the listener). */
  readonly reason?: string;
  /** The source entry's envelope, as read. */
  readonly envelope: string;
}

/** The entry's fields, in order (`XADD key * ...fields`); an oversize envelope is cut to the limit. */
function toFields(record: DeadLetterRecord): Array<string | number> {
  let envelope = record.envelope;
  const size = Buffer.byteLength(envelope);
  const truncated = size > DEAD_LETTER_ENVELOPE_LIMIT && record.reason !== undefined && /size limit/.test(record.reason);
  if (truncated) envelope = Buffer.from(envelope).subarray(0, DEAD_LETTER_ENVELOPE_LIMIT).toString('utf8');
  return [
    FIELD.eventId,
    record.eventId,
    FIELD.eventName,
    record.eventName,
    FIELD.handleId,
    record.handleId,
    FIELD.stream,
    record.streamKey,
    FIELD.group,
    record.group,
    FIELD.listener,
    record.listener,
    FIELD.consumer,
    record.consumer,
    FIELD.attempts,
    record.attempts,
    FIELD.error,
    record.error,
    FIELD.failedAt,
    Date.now(),
    FIELD.size,
    size,
    ...(record.reason !== undefined ? [FIELD.reason, record.reason] : []),
    ...(truncated ? [FIELD.truncated, '1'] : []),
    FIELD.envelope,
    envelope,
  ];
}

/** A dead-letter entry as `DeadLetterService` shows it. */
function fromFields(id: string, f: Readonly<Record<string, string>>): DeadLetter {
  return {
    id,
    eventId: f[FIELD.eventId] ?? '',
    eventName: f[FIELD.eventName] ?? '',
    handleId: f[FIELD.handleId] ?? '',
    listener: f[FIELD.listener] ?? '',
    group: f[FIELD.group] ?? '',
    consumer: f[FIELD.consumer] ?? '',
    attempts: Number(f[FIELD.attempts] ?? 0),
    error: f[FIELD.error] ?? '',
    ...(f[FIELD.reason] !== undefined ? { reason: f[FIELD.reason] } : {}),
    failedAt: new Date(Number(f[FIELD.failedAt] ?? 0)),
    envelope: f[FIELD.envelope] ?? '',
    truncated: f[FIELD.truncated] === '1',
    size: Number(f[FIELD.size] ?? 0),
  };
}

/**
 * Appends the dead letter, then acknowledges the source entry, in one script: a failed append (a
 * key of the wrong type, out of memory) stops it before the ack, so the entry stays pending and
 * is dead-lettered again when reclaimed (in a MULTI the ack would run anyway and the entry would
 * be lost). On a cluster too: the two keys share a hash slot.
 */
export async function writeDeadLetter(commands: StreamCommands, record: DeadLetterRecord, maxLen: number): Promise<void> {
  const key = deadLetterKey(record.streamKey);
  const fields = toFields(record);
  await commands.call('EVAL', DEAD_LETTER_SCRIPT, 2, key, record.streamKey, maxLen, record.group, record.eventId, ...fields);
}

const DEAD_LETTER_SCRIPT = `redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 4))
return redis.call('XACK', KEYS[2], ARGV[2], ARGV[3])`;

/** What the store needs of the driver. */
export interface DeadLetterStreamHost {
  /** The command connection (opened on first use). */
  commands(): Promise<StreamCommands>;
  /** `channelPrefix + eventName`. */
  streamKey(eventName: string): string;
  /** The consumer group this service gives a listener, if it has `streams.group`. */
  groupOf(listenerName: string): string | undefined;
  /** `streams.group` as configured (for messages). */
  readonly serviceGroup: string | undefined;
  /** The consumer of `group` on `streamKey`, when its listener runs in this process. */
  consumerOf(streamKey: string, group: string): DeadLetterReplayer | undefined;
}

/** Delivers a dead letter's event once more to the listener that failed it. */
export interface DeadLetterReplayer {
  replay(eventId: string, envelope: string, attempt: number): Promise<void>;
}

/** `DeadLetterService`'s view of the redis-streams dead-letter streams. */
export class DeadLetterStream implements DeadLetterStore {
  /** Dead letters being replayed in this process (a second replay at the same time would deliver twice). */
  private readonly replaying = new Set<string>();

  constructor(private readonly host: DeadLetterStreamHost) {}

  async list(eventName: string, options: ListDeadLettersOptions = {}): Promise<DeadLetter[]> {
    const count = options.count ?? DEFAULT_DEAD_LETTER_PAGE;
    const start = options.after !== undefined ? `(${options.after}` : '-';
    const reply = await (await this.host.commands()).call('XRANGE', this.keyOf(eventName), start, '+', 'COUNT', count);
    return toEntries(reply).map((entry) => fromFields(entry.id, entry.fields ?? {}));
  }

  async count(eventName: string): Promise<number> {
    return Number(await (await this.host.commands()).call('XLEN', this.keyOf(eventName)));
  }

  async get(eventName: string, id: string): Promise<DeadLetter | undefined> {
    const reply = await (await this.host.commands()).call('XRANGE', this.keyOf(eventName), id, id);
    const [entry] = toEntries(reply);
    return entry === undefined ? undefined : fromFields(entry.id, entry.fields ?? {});
  }

  async delete(eventName: string, id: string): Promise<boolean> {
    return Number(await (await this.host.commands()).call('XDEL', this.keyOf(eventName), id)) > 0;
  }

  /**
   * Delivers a dead letter's event to the listener that failed it — in this process, through
   * that listener's delivery policies — then deletes the dead letter. Rejects (and keeps the dead
   * letter) when the listener fails again or is not registered in this app.
   */
  async replay(eventName: string, id: string): Promise<void> {
    const key = `${this.host.streamKey(eventName)}\n${id}`;
    if (this.replaying.has(key)) throw new Error(`dead letter '${id}' of '${eventName}' is already being replayed in this process`);
    this.replaying.add(key);
    try {
      await this.replayOnce(eventName, id);
    } finally {
      this.replaying.delete(key);
    }
  }

  private async replayOnce(eventName: string, id: string): Promise<void> {
    const letter = await this.get(eventName, id);
    if (letter === undefined) {
      throw new Error(`no dead letter '${id}' for event '${eventName}' (stream '${this.keyOf(eventName)}')`);
    }
    const streamKey = this.host.streamKey(eventName);
    const consumer = this.host.consumerOf(streamKey, letter.group);
    if (consumer === undefined) {
      const ours = this.host.groupOf(letter.listener) === letter.group;
      throw new Error(
        ours
          ? `dead letter '${id}' was failed by ${letter.listener}, which is not registered in this app for '${eventName}'; replay it where that listener runs`
          : `dead letter '${id}' belongs to consumer group '${letter.group}', not to this service (streams.group '${this.host.serviceGroup ?? '(none)'}'); replay it from that service`,
      );
    }
    if (letter.truncated)
      throw new Error(`dead letter '${id}' was over the size limit and holds only part of the event; it cannot be replayed`);
    await consumer.replay(letter.eventId, letter.envelope, letter.attempts + 1);
    await this.delete(eventName, id);
  }

  private keyOf(eventName: string): string {
    return deadLetterKey(this.host.streamKey(eventName));
  }
}
