/**
 * What a dispatchable event name is, on every driver: 1 to 255 characters, none of them whitespace
 * or a control character, and no `*` (wildcards are for listeners). A name becomes a Redis channel or
 * stream key and a log field, so CR/LF, spaces and kilobyte names are refused rather than sent.
 */
export const MAX_EVENT_NAME_LENGTH = 255;

const FORBIDDEN_CHARACTER = /[\s\p{Cc}\p{Cf}*]/u;
/**
 * Any character but printable ASCII without `*`. Most names have none, and this one plain class
 * costs a fraction of the Unicode classes above; a name that has one gets the full check.
 */
const NOT_PLAIN_ASCII = /[^!-)+-~]/;

/** A long name is cut in messages: the reason says how long it was. */
export function quoteEventName(name: string): string {
  return name.length <= 80 ? `'${name}'` : `'${name.slice(0, 60)}…' (${name.length} characters)`;
}

/** Why a listener key (an event name, or a pattern with `*` / `**` segments) is invalid, or undefined. */
export function invalidListenerKeyReason(key: string): string | undefined {
  return invalidEventNameReason(key.replace(/\*/g, 'x'));
}

/** Why `name` is not a valid event name, or undefined when it is. */
export function invalidEventNameReason(name: string): string | undefined {
  if (name.length === 0) return 'an event name must not be empty';
  if (name.length > MAX_EVENT_NAME_LENGTH) {
    return `an event name has at most ${MAX_EVENT_NAME_LENGTH} characters (got ${name.length})`;
  }
  if (!NOT_PLAIN_ASCII.test(name)) return undefined;
  const bad = FORBIDDEN_CHARACTER.exec(name);
  if (bad !== null) {
    return bad[0] === '*'
      ? `'*' is for listener patterns; a dispatched event name cannot contain it`
      : `an event name cannot contain whitespace or control characters (found ${JSON.stringify(bad[0])} at ${bad.index})`;
  }
  return undefined;
}
