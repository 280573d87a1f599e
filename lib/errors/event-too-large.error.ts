/** The encoded event is larger than `redis.maxEventSize`. */
export class EventTooLargeError extends Error {
  override readonly name = 'EventTooLargeError';
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`event is ${size} bytes, over the limit of ${limit} bytes (raise redis.maxEventSize or send less)`);
  }
}
