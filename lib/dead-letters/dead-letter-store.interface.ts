import type { DeadLetter, ListDeadLettersOptions } from './dead-letter.interface';

/**
 * A capability a driver may offer: it keeps the events its listeners gave up on, and can list,
 * count, replay and delete them. The redis-streams driver offers it; a custom driver can too, by
 * setting `deadLetters` to an object like this. `DeadLetterService` works with any driver that has one.
 */
export interface DeadLetterStore {
  /** Oldest first; `count` defaults to 100, `after` pages on from a dead-letter id. */
  list(eventName: string, options?: ListDeadLettersOptions): Promise<DeadLetter[]>;
  count(eventName: string): Promise<number>;
  /**
   * Delivers the event again to the listener that failed it, and only to it, then deletes the dead
   * letter. Rejects, and keeps the dead letter, when the listener fails again or is not registered here.
   */
  replay(eventName: string, id: string): Promise<void>;
  /** Resolves to false when there was no such dead letter. */
  delete(eventName: string, id: string): Promise<boolean>;
}

/** True when `driver` offers dead letters (its `deadLetters` is a store). */
export function hasDeadLetterStore(driver: unknown): driver is { readonly deadLetters: DeadLetterStore } {
  if (typeof driver !== 'object' || driver === null) return false;
  const store = (driver as { deadLetters?: unknown }).deadLetters;
  if (typeof store !== 'object' || store === null) return false;
  const methods = store as Partial<Record<keyof DeadLetterStore, unknown>>;
  return (
    typeof methods.list === 'function' &&
    typeof methods.count === 'function' &&
    typeof methods.replay === 'function' &&
    typeof methods.delete === 'function'
  );
}
