/** A received message that cannot be used; it was counted and skipped. */
export class MessageRejectedError extends Error {
  override readonly name = 'MessageRejectedError';
  constructor(
    /** The full Redis channel or stream key. */
    readonly channel: string,
    /** The message's size in bytes. */
    readonly size: number,
    readonly reason: string,
  ) {
    super(`message on '${channel}' (${size} bytes) rejected: ${reason}`);
  }
}
