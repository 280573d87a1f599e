/** The listener's queue was full: this event was not delivered to it. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(
    readonly maxQueue: number,
    readonly overflow: 'reject' | 'drop-oldest',
  ) {
    super(
      overflow === 'reject'
        ? `listener queue is full (maxQueue ${maxQueue}): event rejected (raise maxQueue or concurrency)`
        : `listener queue is full (maxQueue ${maxQueue}): oldest queued event dropped (raise maxQueue or concurrency)`,
    );
  }
}
