import { describe, expect, it } from 'vitest';
import { MAX_SCRIPT_BATCH_CHARS } from '../../lib/drivers/redis/redis.defaults';
import { scriptEnd } from '../../lib/drivers/redis/shared/batch-script';

/** How a batch is cut into scripts of at most MAX_SCRIPT_BATCH_CHARS of payload. */
describe('scriptEnd', () => {
  const ends = (sizes: number[]): number[] => {
    const out: number[] = [];
    for (let from = 0; from < sizes.length;) out.push((from = scriptEnd(from, sizes.length, (i) => sizes[i])));
    return out;
  };

  it('keeps small payloads in one script, up to the batch end', () => {
    expect(ends(Array(1000).fill(200))).toEqual([1000]);
    expect(scriptEnd(10, 20, () => 1)).toBe(20);
  });

  it('starts another script once the next payload would pass the limit; exactly the limit still fits', () => {
    const half = MAX_SCRIPT_BATCH_CHARS / 2;
    expect(ends([half, half, 1])).toEqual([2, 3]);
    expect(ends([200_000, 200_000, 200_000, 200_000, 200_000])).toEqual([2, 4, 5]);
  });

  it('sends a payload larger than the limit alone', () => {
    expect(ends([10, MAX_SCRIPT_BATCH_CHARS * 2, 10, 10])).toEqual([1, 2, 4]);
  });
});
