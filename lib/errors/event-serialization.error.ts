/** The event could not be encoded as JSON (a cycle, a BigInt, a throwing toJSON). */
export class EventSerializationError extends Error {
  override readonly name = 'EventSerializationError';
  constructor(
    reason: string,
    override readonly cause?: unknown,
  ) {
    super(`event is not serialisable as JSON: ${reason}`);
  }
}
