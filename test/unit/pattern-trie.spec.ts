import { describe, expect, it } from 'vitest';
import { compilePattern } from '../../lib/routing/event-pattern';
import { PatternTrie } from '../../lib/routing/pattern-trie';

const sorted = (list: string[]) => [...list].sort();

function matches(trie: PatternTrie<string>, name: string): string[] {
  const out: string[] = [];
  const n = trie.match(name, out);
  return out.slice(0, n).sort();
}

/** The rule written out segment by segment, independently of the trie and of the RegExp form. */
function reference(pattern: string, name: string): boolean {
  const p = pattern.split('.');
  const s = name.split('.');
  const at = (i: number, j: number): boolean => {
    if (i === p.length) return j === s.length;
    if (j === s.length) return false;
    if (p[i] === '**') {
      for (let k = j + 1; k <= s.length; k++) {
        if (s.slice(j, k).some((seg) => seg === '')) break;
        if (at(i + 1, k)) return true;
      }
      return false;
    }
    if (p[i] === '*') return s[j] !== '' && at(i + 1, j + 1);
    return p[i] === s[j] && at(i + 1, j + 1);
  };
  return at(0, 0);
}

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('PatternTrie', () => {
  it('`*` takes exactly one segment, `**` one or more, anywhere in the pattern', () => {
    const trie = new PatternTrie<string>();
    for (const p of ['user.*', 'user.**', 'a.*.c', 'a.**.c', '**', '*', '**.end', '*.*']) trie.set(p, p);
    expect(matches(trie, 'user')).toEqual(sorted(['*', '**']));
    expect(matches(trie, 'user.x')).toEqual(sorted(['*.*', '**', 'user.*', 'user.**']));
    expect(matches(trie, 'user.x.y')).toEqual(sorted(['**', 'user.**']));
    expect(matches(trie, 'a.b.c')).toEqual(sorted(['**', 'a.*.c', 'a.**.c']));
    expect(matches(trie, 'a.b.b.c')).toEqual(sorted(['**', 'a.**.c']));
    expect(matches(trie, 'a.c')).toEqual(sorted(['*.*', '**']));
    expect(matches(trie, 'x.y.end')).toEqual(sorted(['**', '**.end']));
    expect(matches(trie, 'end')).toEqual(sorted(['*', '**']));
  });

  it('wildcards never take an empty segment', () => {
    const trie = new PatternTrie<string>();
    for (const p of ['a.*', 'a.**', '**', 'a.*.b']) trie.set(p, p);
    expect(matches(trie, 'a.')).toEqual([]);
    expect(matches(trie, 'a..b')).toEqual([]);
    expect(matches(trie, '')).toEqual([]);
    expect(matches(trie, '.a')).toEqual([]);
  });

  it('matches literal segments exactly, whatever characters they hold', () => {
    const trie = new PatternTrie<string>();
    trie.set('a+b.*', 'p');
    trie.set('__proto__.*', 'proto');
    expect(matches(trie, 'a+b.c')).toEqual(['p']);
    expect(matches(trie, 'aab.c')).toEqual([]);
    expect(matches(trie, '__proto__.x')).toEqual(['proto']);
    expect(matches(trie, 'constructor.x')).toEqual([]);
  });

  it('rejects patterns with partial wildcards or empty segments, and stores nothing', () => {
    const trie = new PatternTrie<string>();
    expect(() => trie.set('user*', 'x')).toThrow(/whole segments/);
    expect(() => trie.set('a..*', 'x')).toThrow(/empty segment/);
    expect(trie.size).toBe(0);
  });

  it('get, set and delete by pattern; delete prunes what only that pattern needed', () => {
    const trie = new PatternTrie<string>();
    trie.set('a.*.c', 'one');
    trie.set('a.**', 'two');
    expect(trie.get('a.*.c')).toBe('one');
    expect(trie.get('a.*')).toBeUndefined();
    expect(trie.delete('a.*')).toBe(false);
    expect(trie.delete('a.*.c')).toBe(true);
    expect(trie.delete('a.*.c')).toBe(false);
    expect(matches(trie, 'a.b.c')).toEqual(['two']);
    expect(trie.size).toBe(1);
    trie.set('a.*.c', 'again');
    expect(matches(trie, 'a.b.c')).toEqual(['again', 'two']);
  });

  it('costs the same with 20,000 patterns that share no prefix with the name (no scan)', () => {
    const trie = new PatternTrie<string>();
    for (let i = 0; i < 20_000; i++) trie.set(`e${i}.*.created`, `p${i}`);
    trie.set('order.*.created', 'order');
    expect(matches(trie, 'order.42.created')).toEqual(['order']);
    expect(matches(trie, 'e19999.x.created')).toEqual(['p19999']);
    expect(matches(trie, 'e20000.x.created')).toEqual([]);
  });

  it('a segment is looked up by its text, not by its length, first character or the child found last', () => {
    const trie = new PatternTrie<string>();
    for (const p of ['order.*.created', 'order.*.creates', 'order.*.crated', 'order.*.s2', '*.x4.created', `a.${'l'.repeat(40)}`])
      trie.set(p, p);
    // The same literal child again and again, then its neighbours of the same length and first letter.
    expect(matches(trie, 'order.1.created')).toEqual(['order.*.created']);
    expect(matches(trie, 'order.2.created')).toEqual(['order.*.created']);
    expect(matches(trie, 'order.3.creates')).toEqual(['order.*.creates']);
    expect(matches(trie, 'order.4.createx')).toEqual([]);
    expect(matches(trie, 'order.5.crated')).toEqual(['order.*.crated']);
    expect(matches(trie, 'order.6.created')).toEqual(['order.*.created']);
    // No literal child of that length or first letter: still matched through the wildcards.
    expect(matches(trie, 'q.x4.created')).toEqual(['*.x4.created']);
    expect(matches(trie, 'order.x4.created')).toEqual(sorted(['*.x4.created', 'order.*.created']));
    expect(matches(trie, 'order.123456.s2')).toEqual(['order.*.s2']);
    // Segments past 31 characters share one length class.
    expect(matches(trie, `a.${'l'.repeat(40)}`)).toEqual([`a.${'l'.repeat(40)}`]);
    expect(matches(trie, `a.${'l'.repeat(39)}m`)).toEqual([]);
    expect(matches(trie, `a.${'l'.repeat(41)}`)).toEqual([]);
  });

  it('forgets a removed literal child, even the one found last', () => {
    const trie = new PatternTrie<string>();
    trie.set('order.*.created', 'created');
    trie.set('order.*.shipped', 'shipped');
    expect(matches(trie, 'order.1.created')).toEqual(['created']);
    expect(trie.delete('order.*.created')).toBe(true);
    expect(matches(trie, 'order.2.created')).toEqual([]);
    expect(matches(trie, 'order.3.shipped')).toEqual(['shipped']);
    expect(trie.delete('order.*.shipped')).toBe(true);
    expect(matches(trie, 'order.4.shipped')).toEqual([]);
    trie.set('order.*.created', 'again');
    expect(matches(trie, 'order.5.created')).toEqual(['again']);
  });

  it('agrees with a brute-force matcher and with the RegExp form over random patterns and names (seeded)', () => {
    const random = prng(0x5eed18);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
    const words = ['a', 'b', 'c', 'order', 'user', 'orden', 'users', 'o'.repeat(33), 'o'.repeat(34)];
    const pattern = () => Array.from({ length: 1 + Math.floor(random() * 4) }, () => pick(['*', '**', ...words, ...words])).join('.');
    const name = () => Array.from({ length: 1 + Math.floor(random() * 6) }, () => pick([...words, ...words, ''])).join('.');
    for (let round = 0; round < 200; round++) {
      const trie = new PatternTrie<string>();
      const patterns = [...new Set(Array.from({ length: 1 + Math.floor(random() * 12) }, pattern))];
      for (const p of patterns) trie.set(p, p);
      // Some removed again: the pruned trie must still agree.
      const kept = patterns.filter((p) => random() < 0.8 || !trie.delete(p));
      for (let k = 0; k < 25; k++) {
        const n = name();
        const expected = kept.filter((p) => reference(p, n)).sort();
        expect(matches(trie, n), `${n} against ${kept.join(' ')}`).toEqual(expected);
        expect(kept.filter((p) => compilePattern(p).test(n)).sort()).toEqual(expected);
      }
    }
  });
});
