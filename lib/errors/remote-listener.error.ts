/**
 * A listener in another process failed: the cause of the `EventError` the publisher's handle gets.
 * Carries the remote error's `name` and `message`; its stack only when the receiving app opts in
 * (`tracking.reportStacks`).
 */
export class RemoteListenerError extends Error {
  override readonly name = 'RemoteListenerError';

  constructor(
    /** The remote error's class name (`TypeError`, `PaymentDeclinedError`). */
    readonly remoteName: string,
    message: string,
    /** The bus that ran the listener. */
    readonly reporter: string,
    remoteStack?: string,
  ) {
    super(message);
    this.stack = remoteStack !== undefined ? `${remoteName}: ${message}\n${remoteStack}` : `${remoteName}: ${message} (in bus ${reporter})`;
  }
}
