import { randomBytes } from 'node:crypto';

/** Hex chars of an id's random prefix; the last two are a counter within its block. */
const PREFIX_CHARS = 14;
/** Ids per block: one random prefix, then a two-hex-char counter. */
const BLOCK_IDS = 256;
/** Prefixes per random draw, hex-encoded in one native call. */
const DRAW_PREFIXES = 64;

/** '00'…'ff': the counter part of an id, one string each, made once. */
const COUNTERS: readonly string[] = Object.freeze(Array.from({ length: BLOCK_IDS }, (_, i) => i.toString(16).padStart(2, '0')));

/**
 * Wire `handle_id`s: 16 lowercase hex chars, made only when someone reads one. A block of 256
 * consecutive ids shares a random 56-bit prefix and ends in a counter, so an id costs one string
 * concatenation; drawing 8 random bytes and hex-encoding them per id took ~40 ns, a sixth of an
 * `await bus.dispatch()`. Two ids collide only when two blocks draw the same prefix: for 4 billion
 * ids that is about one chance in 600, against about one in three for 64 random bits per id.
 * Ids are not secrets (every envelope carries its own); a tracking report is also checked against
 * the reporter the publisher expects.
 */
export class HandleIdGenerator {
  private prefixes = '';
  private prefixOffset = 0;
  private prefix = '';
  private counter = BLOCK_IDS;

  next(): string {
    if (this.counter === BLOCK_IDS) this.nextBlock();
    return this.prefix + COUNTERS[this.counter++];
  }

  private nextBlock(): void {
    if (this.prefixOffset === this.prefixes.length) {
      this.prefixes = randomBytes((DRAW_PREFIXES * PREFIX_CHARS) / 2).toString('hex');
      this.prefixOffset = 0;
    }
    const o = this.prefixOffset;
    this.prefixOffset = o + PREFIX_CHARS;
    this.prefix = this.prefixes.slice(o, o + PREFIX_CHARS);
    this.counter = 0;
  }
}
