/**
 * The pub/sub subscriber connection was closed by Redis or the network, not by this app: every event
 * published until it is subscribed again is missed by this process. The most common cause under load
 * is Redis's `client-output-buffer-limit pubsub` (a subscriber that falls behind is dropped), but a
 * restart, a `CLIENT KILL` or a network failure look the same from the client's side.
 */
export class SubscriberDisconnectedError extends Error {
  override readonly name = 'SubscriberDisconnectedError';
  constructor(
    /** Where the subscriber was connected (no credentials). */
    readonly target: string,
    /** What is known about why: the socket error, or that Redis closed the connection. */
    readonly reason: string,
  ) {
    super(
      `the subscriber connection to ${target} was closed: ${reason}; events published until it has resubscribed are missed ` +
        `(at-most-once). If Redis dropped it for client-output-buffer-limit pubsub (see the Redis log), raise that limit, make ` +
        `listeners keep up (async with concurrency), or use driver 'redis-streams' for events that must not be lost`,
    );
  }
}
