import { describe, expect, it } from 'vitest';
import { HandleIdGenerator } from '../../lib/dispatch/handle-id.generator';

describe('HandleIdGenerator', () => {
  it('makes 16 lowercase hex characters', () => {
    const ids = new HandleIdGenerator();
    for (let i = 0; i < 100; i++) expect(ids.next()).toMatch(/^[0-9a-f]{16}$/);
  });

  it('makes unique ids, also across its byte pool refills and across generators', () => {
    const a = new HandleIdGenerator();
    const b = new HandleIdGenerator();
    const seen = new Set<string>();
    // Several thousand ids cross the pool boundary many times.
    for (let i = 0; i < 5000; i++) {
      seen.add(a.next());
      seen.add(b.next());
    }
    expect(seen.size).toBe(10_000);
  });
});
