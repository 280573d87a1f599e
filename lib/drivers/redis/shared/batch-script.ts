import type { Redis } from 'ioredis';
import { MAX_SCRIPT_BATCH_CHARS } from '../redis.defaults';
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

  /**
   * Sends `args` to the script; resolves with its reply (an array with one entry per command). No
   * KEYS: these scripts run on one node only, and a declared key that an ACL refuses would refuse the
   * whole batch where a plain command fails alone.
   */
  run(client: Redis, args: readonly (string | number)[]): Promise<unknown> {
    return client.call('EVAL', [this.lua, 0, ...args]);
  }

  /**
   * Whether `err` (the whole EVAL's failure) says Redis will not run scripts at all: the script did not
   * run, nothing it held was executed, and the batch may be sent again as plain commands. The first
   * such answer also turns scripts off (`usable`) and reports it through `onRefused`.
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

/** A failed command's message in a batch reply, or undefined when it succeeded. */
export function batchError(reply: unknown): string | undefined {
  return typeof reply === 'string' ? reply : undefined;
}

/**
 * Where the script that starts at item `from` ends (exclusive, at most `to`): past
 * MAX_SCRIPT_BATCH_CHARS of payload the rest goes in another script, and an item larger than that
 * goes alone.
 */
export function scriptEnd(from: number, to: number, charsAt: (i: number) => number): number {
  let chars = charsAt(from);
  let end = from + 1;
  for (; end < to; end++) {
    chars += charsAt(end);
    if (chars > MAX_SCRIPT_BATCH_CHARS) break;
  }
  return end;
}
