/** Field names of a source stream entry. `envelope` is the §10 JSON; the others let tools read an entry without parsing it. */
export const FIELD_ENVELOPE = 'envelope';
export const FIELD_EVENT_NAME = 'event_name';
export const FIELD_HANDLE_ID = 'handle_id';

/** Dead letters keep at most this much of an envelope that was itself over the size limit. */
export const DEAD_LETTER_ENVELOPE_LIMIT = 4096;

/** Stream key of an event's dead letters. */
export function deadLetterKey(streamKey: string): string {
  return `${streamKey}:dlq`;
}
