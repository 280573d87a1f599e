/**
 * Field of a source stream entry: the JSON wire envelope (it holds the event name and handle id).
 * Entries appended by earlier versions also have `event_name` and `handle_id` fields, still read
 * when an entry cannot be decoded; they are no longer written (four strings more per entry to
 * encode and to parse, for what the envelope already says).
 */
export const FIELD_ENVELOPE = 'envelope';
export const FIELD_EVENT_NAME = 'event_name';
export const FIELD_HANDLE_ID = 'handle_id';
