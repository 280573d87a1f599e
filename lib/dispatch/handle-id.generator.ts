import { randomBytes } from 'node:crypto';

const POOL_IDS = 512;
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/**
 * Random 64-bit ids as 16 lowercase hex chars (the wire `handle_id`). Bytes come from a pool
 * refilled 512 ids at a time, and an id is only made when someone reads it.
 */
export class HandleIdGenerator {
  private pool = randomBytes(POOL_IDS * 8);
  private offset = 0;

  next(): string {
    if (this.offset === this.pool.length) {
      this.pool = randomBytes(POOL_IDS * 8);
      this.offset = 0;
    }
    const p = this.pool;
    const o = this.offset;
    this.offset = o + 8;
    return (
      HEX[p[o]] + HEX[p[o + 1]] + HEX[p[o + 2]] + HEX[p[o + 3]] + HEX[p[o + 4]] + HEX[p[o + 5]] + HEX[p[o + 6]] + HEX[p[o + 7]]
    );
  }
}
