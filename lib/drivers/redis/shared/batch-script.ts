import type { Redis } from 'ioredis';
import { errorMessage } from './redis-connection';

/**
 * A batch of commands sent as one EVAL: Redis runs them one by one inside a Lua script, in order, and
 * the reply is one array with a result per command. One command instead of a thousand is most of what
 * a publishing process spends per event: ioredis builds an object, a promise and a parsed reply for
 * every command it sends, a pipeline adds two more promises, and the server parses each one. Receivers
 * see nothing different: a PUBLISH or XADD made by a script is the same message or entry.
 *
 * Always EVAL with the body, never EVALSHA: Redis keeps the compiled script by its hash either way, and
 * EVALSHA's NOSCRIPT retry (after a restart or a failover) could reorder batches behind later ones.
 * Scripts have no shebang flags, so they behave as plain commands on Redis 6 and 7 (OOM is checked
 * only when a script writes, as for a plain write).
 */
export class BatchScript {
  /**
   * False once Redis refused to run scripts (an ACL without EVAL, a proxy that does not forward it):
   * the caller sends plain commands from then on.
   */
  usable = true;

  constructor(
    private readonly lua: string,
    private readonly onRefused: (reason: string) => void,
  ) {}

  /** Sends `keys` and `args` to the script; resolves with its reply (an array with one entry per command). */
  run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    return client.call('EVAL', [this.lua, keys.length, ...keys, ...args]);
  }

  /**
   * Whether `err` (the whole EVAL's failure) says Redis will not run scripts at all: the script did not
   * run, nothing it held was executed, and the batch may be sent again as plain commands.
   */
  refusedScripts(err: unknown): boolean {
    if (!(err instanceof Error) || err.name !== 'ReplyError') return false;
    const message = errorMessage(err);
    const refused = /^NOPERM\b.*\beval\b/i.test(message) || /^ERR unknown command [`'"]?eval/i.test(message);
    if (refused && this.usable) {
      this.usable = false;
      this.onRefused(message);
    }
    return refused;
  }
}

/**
 * The reply of one command in a batch script: what the command returned, or, when it failed, its error
 * message as a string (the script catches each failure so one refused command does not stop the rest).
 */
export type BatchReply = number | string;

/** A failed command's message in a batch reply, or undefined when it succeeded. */
export function batchError(reply: unknown): string | undefined {
  return typeof reply === 'string' ? reply : undefined;
}
