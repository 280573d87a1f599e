import { describe, expect, it } from 'vitest';
import { HandleIdGenerator } from '../../lib/dispatch/handle-id.generator';

describe('HandleIdGenerator', () => {
  it('makes 16 lowercase hex characters', () => {
    const ids = new HandleIdGenerator();
    for (let i = 0; i < 100; i++) expect(ids.next()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('makes unique ids, also across its blocks, its random draws and across generators', () => {
    const a = new HandleIdGenerator();
    const b = new HandleIdGenerator();
    const seen = new Set<string>();
    // 20,000 ids each: a new prefix every 256 ids, a new random draw every 16,384.
    for (let i = 0; i < 20_000; i++) {
      seen.add(a.next());
      seen.add(b.next());
    }
    expect(seen.size).toBe(40_000);
  });

  it('gives each block of 256 ids a fresh random prefix', () => {
    const ids = new HandleIdGenerator();
    const prefixes = new Set<string>();
    for (let i = 0; i < 256 * 100; i++) prefixes.add(ids.next().slice(0, 14));
    // One prefix per block: a prefix reused (or one per id) would not give exactly 100.
    expect(prefixes.size).toBe(100);
  });
});
