/** Defaults of the redis drivers, in one place (the bus-wide ones live in event-bus.constants.ts). */

/** `streams` options left unset. */
export const STREAMS_DEFAULTS = { maxAttempts: 5, claimIdleMs: 30_000, maxLen: 100_000, blockMs: 2_000 } as const;

/** ioredis's default connectTimeout: start-up waits this long for a connection to be ready. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/**
 * Events per pipeline at most, on both drivers: a dispatch loop of 100,000 events in one tick goes
 * out in pipelines of this size as it runs, so Redis and the receivers start work while the loop is
 * still dispatching (one pipeline of everything at the end of the tick halved end-to-end throughput).
 * A redis-streams stream may also pass `maxLen` by at most this many entries until its next trim.
 */
export const MAX_PUBLISH_BATCH = 1000;

/**
 * Payload characters one batch script carries at most (its batch is split past it). Redis must buffer a
 * whole command before it runs it, and a script of a thousand large events would hold the server's
 * query buffer (1 GiB by default) and the event loop of both sides for one command; plain pipelined
 * commands are read one by one.
 */
export const MAX_SCRIPT_BATCH_CHARS = 512 * 1024;

/** Dead letters `DeadLetterService.list()` returns when no `count` is given. */
export const DEFAULT_DEAD_LETTER_PAGE = 100;

/** Every connection the drivers open is named `nestjs-event-bus:<role>` in `CLIENT LIST`. */
export function connectionName(role: string): string {
  return `nestjs-event-bus:${role}`;
}
