import type { DriverContext } from '../../../interfaces/event-bus-driver.interface';
import { writeDeadLetter, type DeadLetterRecord } from '../dead-letter-stream';
import type { StreamCommands } from '../stream-commands';
import { FIELD_ENVELOPE, FIELD_EVENT_NAME, FIELD_HANDLE_ID } from '../stream-fields';
import type { StreamEntry } from '../stream-replies';
import { describe, type StreamConsumerSettings } from './consumer-settings';

/** At most one "could not dead-letter" line per consumer per this many ms. */
const DEAD_LETTER_FAILURE_LOG_MS = 10_000;

/**
 * One consumer's dead-lettering: an entry given up on is written to the stream's dead-letter
 * stream with why, and acknowledged, in one script. One that cannot be written stays pending
 * (reclaimed and dead-lettered again later); such failures are logged once per interval, not per entry.
 */
export class DeadLetterer {
  /** Dead letters that could not be written since the last line about it. */
  private failures = 0;
  private failureLoggedAt = 0;

  constructor(
    private readonly commands: StreamCommands,
    private readonly settings: StreamConsumerSettings,
    private readonly log: DriverContext['log'],
    /** Told about each dead letter written (metrics count those, not the failed writes). */
    private readonly written: (eventName: string, listener: string) => void = () => undefined,
  ) {}

  /** Moves the entry to the dead-letter stream (and acknowledges it); on failure it stays pending. */
  async write(entry: StreamEntry, attempts: number, error: unknown, reason: string | undefined, handleId?: string): Promise<void> {
    const { streamKey, deadLetterKey, group, consumer, maxLen, eventName } = this.settings;
    const source = entry.fields ?? {};
    const record: DeadLetterRecord = {
      eventId: entry.id,
      eventName: source[FIELD_EVENT_NAME] || eventName,
      handleId: handleId ?? source[FIELD_HANDLE_ID] ?? '',
      streamKey,
      group,
      listener: this.settings.listener.name,
      consumer,
      attempts,
      error: describe(error),
      ...(reason !== undefined ? { reason } : {}),
      envelope: source[FIELD_ENVELOPE] ?? '',
    };
    try {
      await writeDeadLetter(this.commands, record, maxLen);
      this.written(record.eventName, record.listener);
      // Not logged here: the failure that led to it was reported (errors$), and the bus logs those rate-limited.
      this.log(
        'debug',
        `${this.settings.listener.name}: entry ${entry.id} of '${streamKey}' moved to '${deadLetterKey}' after ${attempts} attempt(s)`,
      );
    } catch (err) {
      // Left pending: reclaimed after claimIdleMs, then dead-lettered again. One line per interval, not per entry.
      this.failures++;
      const now = Date.now();
      if (now - this.failureLoggedAt >= DEAD_LETTER_FAILURE_LOG_MS) {
        this.log(
          'error',
          `${this.settings.listener.name}: could not dead-letter ${this.failures} entr${this.failures === 1 ? 'y' : 'ies'} of '${streamKey}' ` +
            `(latest: ${entry.id}, ${describe(err)}); they stay pending and are dead-lettered when reclaimed`,
        );
        this.failureLoggedAt = now;
        this.failures = 0;
      }
    }
  }
}
