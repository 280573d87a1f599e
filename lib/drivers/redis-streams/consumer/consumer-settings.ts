import type { DriverListener } from '../../../interfaces/event-bus-driver.interface';

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
}

/** Shared by a consumer and its collaborators: whether it still takes work. */
export interface ConsumerState {
  /** `stop()` was called: read nothing more, start nothing more. */
  stopped: boolean;
  /** The bus refused a delivery (it is closing, or the listener was unregistered): read nothing more; stop() follows. */
  refused: boolean;
}

/** Entries read per XAUTOCLAIM / re-read of pending entries, and per XREADGROUP of new ones at first. */
export const BATCH = 100;

/** A message for an error value of any kind. */
export function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}
