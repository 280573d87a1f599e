/** `listener` value of errors raised while publishing, and while receiving. */
export const PUBLISHER = 'publisher';
export const SUBSCRIBER = 'subscriber';

/**
 * Every error on a handle or on `errors$` (goevent's EventError). The specific failure is `cause`.
 */
export class EventError extends Error {
  override readonly name = 'EventError';

  constructor(
    readonly eventName: string,
    readonly listener: string,
    readonly handleId: string,
    override readonly cause: unknown,
  ) {
    super(`event '${eventName}' listener '${listener}': ${describe(cause)}`);
  }
}

function describe(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (typeof cause === 'string') return cause;
  try {
    return JSON.stringify(cause) ?? String(cause);
  } catch {
    // A thrown value may be unprintable (null prototype with a cycle, throwing toString): never throw here.
    try {
      return String(cause);
    } catch {
      return Object.prototype.toString.call(cause);
    }
  }
}
