import { describe, expect, it } from 'vitest';
import { assertEventKey, compilePattern, isPattern } from '../../lib/routing/event-pattern';

describe('event patterns', () => {
  it('recognises names with wildcards as patterns', () => {
    expect(isPattern('user.*')).toBe(true);
    expect(isPattern('user.**')).toBe(true);
    expect(isPattern('user.registered')).toBe(false);
  });

  it('accepts plain names and whole-segment wildcards', () => {
    for (const key of ['user.registered', 'a', 'user.*', 'user.**', '*', '**', '*.created', 'a.*.c', 'a.**.z']) {
      expect(() => assertEventKey(key, 'test')).not.toThrow();
    }
  });

  it('rejects wildcards that are not whole segments, naming the pattern and the segment', () => {
    expect(() => assertEventKey('user*', 'here')).toThrow(/user\*.*whole segments/);
    expect(() => assertEventKey('user.reg*', 'here')).toThrow(/'reg\*'/);
    expect(() => assertEventKey('user.***', 'here')).toThrow(TypeError);
    expect(() => assertEventKey('user*', '@OnEvent on Billing.handle')).toThrow(/^@OnEvent on Billing\.handle: /);
  });

  it('rejects empty segments in a pattern', () => {
    expect(() => assertEventKey('user..*', 'here')).toThrow(/empty segment/);
    expect(() => assertEventKey('*.', 'here')).toThrow(/empty segment/);
  });

  it('rejects names that are not non-empty strings, saying where', () => {
    expect(() => assertEventKey('', '@OnEvent on A.b')).toThrow(/@OnEvent on A\.b: an event name must be a non-empty string/);
    expect(() => assertEventKey(42, 'registerListener()')).toThrow(/registerListener\(\).*got 42/);
    expect(() => assertEventKey(undefined, 'x')).toThrow(TypeError);
  });

  it('compiles a pattern that treats regex characters in names literally', () => {
    const re = compilePattern('a+b.*');
    expect(re.test('a+b.c')).toBe(true);
    expect(re.test('aab.c')).toBe(false);
    expect(compilePattern('a.*').test('aXb')).toBe(false);
  });
});
