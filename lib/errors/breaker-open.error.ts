/** The listener's breaker is open after repeated failures; the event was not delivered to it. */
export class BreakerOpenError extends Error {
  override readonly name = 'BreakerOpenError';
  constructor(
    readonly failures: number,
    readonly retryAtMs: number,
  ) {
    super(`breaker open after ${failures} consecutive failures; listener not called until ${new Date(retryAtMs).toISOString()}`);
  }
}
