/** One entry of a dead-letter stream (`prefix + eventName + ':dlq'`). */
export interface DeadLetter {
  /** The dead letter's own stream entry id (what `replay()` and `delete()` take). */
  readonly id: string;
  /** The source entry id: the `id` the listener was given on each attempt. */
  readonly eventId: string;
  readonly eventName: string;
  /** The wire `handle_id` of the dispatch. */
  readonly handleId: string;
  /** The listener that failed it (`Class.method`). */
  readonly listener: string;
  /** Its consumer group (`streams.group + ':' + listener`). */
  readonly group: string;
  /** The consumer (replica) that gave up on it. */
  readonly consumer: string;
  /** Attempts made. */
  readonly attempts: number;
  /** The last error's message. */
  readonly error: string;
  /** Set when the entry itself was unusable (malformed, over the size limit): it never reached the listener. */
  readonly reason?: string;
  readonly failedAt: Date;
  /** The original wire envelope (cut to 4 KiB when the entry was over the size limit; see `truncated`). */
  readonly envelope: string;
  readonly truncated: boolean;
  /** The original envelope's size in bytes. */
  readonly size: number;
}

export interface ListDeadLettersOptions {
  /** At most this many, oldest first. Default 100. */
  count?: number;
  /** Start after this dead-letter id (paging: pass the last id of the previous page). */
  after?: string;
}
