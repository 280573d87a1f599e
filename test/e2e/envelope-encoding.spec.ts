import { describe, expect, it } from 'vitest';
import { EventCodec } from '../../lib/serialization/event-codec';

describe('the cached envelope encoding equals JSON.stringify of the whole envelope', () => {
  const codec = () => new EventCodec({ maxEventSize: 1024 * 1024, strictTypes: false, origin: 'bus-"1"' });

  function expectedWire(name: string, type: string, data: unknown, handleId: string, payload: string): string {
    const { timestamp } = JSON.parse(payload) as { timestamp: number };
    return JSON.stringify({
      event_name: name,
      event_type: type,
      event_data: data ?? null,
      handle_id: handleId,
      timestamp,
      origin: 'bus-"1"',
    });
  }

  class WithToJSON {
    constructor(readonly secret: string) {}
    toJSON(): unknown {
      return { shown: true };
    }
  }

  const cases: Array<[string, string, string, unknown]> = [
    ['undefined data', 'a.b', 'a.b', undefined],
    ['null data', 'a.b', 'a.b', null],
    ['quotes, unicode and </script>', 'a.b', 'a.b', { s: 'he said "hi" \\ é 😀 \u2028 </script>', n: [1, 2.5, -0] }],
    ['a lone surrogate', 'a.b', 'a.b', '\ud800x'],
    ['a toJSON()', 'a.b', 'a.b', new WithToJSON('x')],
    ['a Date', 'a.b', 'a.b', { at: new Date(0) }],
    ['a name with quotes and a versioned type', 'q."x"', 'q."x".v2', { v: 2 }],
  ];
  for (const [what, name, type, data] of cases) {
    it(what, () => {
      const out = codec().encode(name, type, data, '0123456789abcdef');
      expect(out.payload).toBe(expectedWire(name, type, data, '0123456789abcdef', out.payload));
      expect(out.size).toBe(Buffer.byteLength(out.payload));
    });
  }

  it('names and types containing NUL never share a cached head', () => {
    const c = codec();
    const pairs: Array<[string, string]> = [
      ['a', 'b\u0000c'],
      ['a\u0000b', 'c'],
      ['a\u0000b', 'a\u0000b'],
      ['a', 'b'],
    ];
    // Twice round, so every pair is also encoded with the others' heads already cached.
    for (let round = 0; round < 2; round++) {
      for (const [name, type] of pairs) {
        const out = c.encode(name, type, 1, '0123456789abcdef');
        const parsed = JSON.parse(out.payload) as { event_name: string; event_type: string };
        expect([parsed.event_name, parsed.event_type]).toEqual([name, type]);
      }
    }
  });
});
