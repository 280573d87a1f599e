/**
 * A tracked dispatch did not hear from every receiver within its timeout. Receivers that are not a
 * nestjs-event-bus (a goevent service, a raw subscriber) never answer and always end here.
 */
export class RemoteTrackingTimeoutError extends Error {
  override readonly name = 'RemoteTrackingTimeoutError';

  constructor(
    readonly timeoutMs: number,
    /** Receivers that reported. */
    readonly answered: number,
    /** Receivers expected (subscriptions that got the message, or consumer groups of the stream). */
    readonly expected: number,
    /** Those that did not answer, where they are known by name (consumer groups). */
    readonly missing: readonly string[],
  ) {
    super(
      `${answered} of ${expected} receiver(s) reported within ${timeoutMs} ms` +
        (missing.length > 0 ? `; no report from ${missing.map((m) => `'${m}'`).join(', ')}` : '') +
        ' (a receiver that is not a nestjs-event-bus never reports; raise trackRemote.timeoutMs for slow listeners)',
    );
  }
}
