import { describe, expect, it } from 'vitest';
import { DomainEvent, EventSerializationError, EventTooLargeError, MessageRejectedError } from 'nestjs-event-bus';
import { EventCodec } from '../../lib/serialization/event-codec';

@DomainEvent('codec.plain')
class PlainEvent {
  constructor(
    readonly id: string,
    readonly amount: number,
  ) {}
  total(): number {
    return this.amount * 2;
  }
}

@DomainEvent('codec.dated')
class DatedEvent {
  constructor(readonly at: Date) {}
  static fromJSON(data: { at: string }): DatedEvent {
    return new DatedEvent(new Date(data.at));
  }
}

@DomainEvent('codec.versioned', { type: 'codec.versioned.v2' })
class VersionedEvent {
  constructor(readonly v: number) {}
}

@DomainEvent('codec.failing')
export class FailingFromJson {
  static fromJSON(): FailingFromJson {
    throw new Error('bad shape');
  }
}

const codec = (overrides: Partial<{ maxEventSize: number; strictTypes: boolean; maxDepth: number }> = {}) =>
  new EventCodec({ maxEventSize: 1024 * 1024, strictTypes: false, origin: 'bus-1', ...overrides });

function wire(fields: Record<string, unknown>): string {
  return JSON.stringify({
    event_name: 'codec.plain',
    event_type: 'codec.plain',
    event_data: {},
    handle_id: '0123456789abcdef',
    timestamp: 1,
    ...fields,
  });
}

function rejection(fn: () => unknown): MessageRejectedError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MessageRejectedError);
    return err as MessageRejectedError;
  }
  throw new Error('expected a MessageRejectedError');
}

describe('EventCodec.encode', () => {
  it('writes exactly what JSON.stringify of the whole envelope writes (keys, order, escaping), for any data', () => {
    const c = new EventCodec({ maxEventSize: 1024 * 1024, strictTypes: false, origin: 'bus "1"' });
    const cases: Array<[string, string, unknown]> = [
      ['codec.plain', 'codec.plain', { userId: 'u1', n: 1, quote: 'a"b\\c', unicode: 'é✓' }],
      ['codec.versioned', 'codec.versioned.v2', new VersionedEvent(2)],
      ['codec.plain', 'codec.other', { when: new Date(0) }],
      ['name "quoted"', 'name "quoted"', [1, 'two', null]],
      ['codec.plain', 'codec.plain', undefined],
      ['codec.plain', 'codec.plain', 'text'],
    ];
    for (const [name, type, data] of cases) {
      const out = c.encode(name, type, data, 'abcdef0123456789');
      const { timestamp } = JSON.parse(out.payload) as { timestamp: number };
      expect(out.payload).toBe(
        JSON.stringify({
          event_name: name,
          event_type: type,
          event_data: data === undefined ? null : data,
          handle_id: 'abcdef0123456789',
          timestamp,
          origin: 'bus "1"',
        }),
      );
    }
    // Data that serialises to nothing is sent as null, still valid JSON.
    expect(JSON.parse(c.encode('codec.plain', 'codec.plain', () => 1, 'abcdef0123456789').payload).event_data).toBeNull();
  });

  it('writes the goevent v1.1 fields with their types', () => {
    const before = Math.floor(Date.now() / 1000);
    const out = codec().encode('codec.plain', 'codec.plain', new PlainEvent('o1', 3), 'abcdef0123456789');
    const parsed = JSON.parse(out.payload);
    expect(parsed).toMatchObject({
      event_name: 'codec.plain',
      event_type: 'codec.plain',
      event_data: { id: 'o1', amount: 3 },
      handle_id: 'abcdef0123456789',
      origin: 'bus-1',
    });
    expect(Number.isInteger(parsed.timestamp)).toBe(true);
    expect(parsed.timestamp).toBeGreaterThanOrEqual(before);
    expect(parsed.timestamp).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
    expect(out).toMatchObject({ name: 'codec.plain', type: 'codec.plain', handleId: 'abcdef0123456789' });
    expect(out.size).toBe(Buffer.byteLength(out.payload));
  });

  it('sends a versioned registry key as event_type', () => {
    const out = codec().encode('codec.versioned', 'codec.versioned.v2', new VersionedEvent(2), '0000000000000000');
    expect(JSON.parse(out.payload).event_type).toBe('codec.versioned.v2');
  });

  it('uses toJSON() when the event has one, and null for no payload', () => {
    const out = codec().encode('x', 'x', { toJSON: () => ({ only: 'this' }), hidden: 1 }, '0000000000000000');
    expect(JSON.parse(out.payload).event_data).toEqual({ only: 'this' });
    expect(JSON.parse(codec().encode('x', 'x', undefined, '0000000000000000').payload).event_data).toBeNull();
  });

  it('measures size in UTF-8 bytes', () => {
    const out = codec().encode('x', 'x', { s: 'é€😀' }, '0000000000000000');
    expect(out.size).toBe(Buffer.byteLength(out.payload, 'utf8'));
    expect(out.size).toBeGreaterThan(out.payload.length);
  });

  it('refuses an event over the limit with an error naming the size and the limit', () => {
    const big = { s: 'x'.repeat(500) };
    let error: unknown;
    try {
      codec({ maxEventSize: 200 }).encode('x', 'x', big, '0000000000000000');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EventTooLargeError);
    const e = error as EventTooLargeError;
    expect(e.limit).toBe(200);
    expect(e.size).toBeGreaterThan(500);
    expect(e.message).toContain(`${e.size} bytes`);
    expect(e.message).toContain('200 bytes');
  });

  it('accepts an event exactly at the limit', () => {
    const size = codec().encode('x', 'x', { a: 1 }, '0000000000000000').size;
    expect(() => codec({ maxEventSize: size }).encode('x', 'x', { a: 1 }, '0000000000000000')).not.toThrow();
    expect(() => codec({ maxEventSize: size - 1 }).encode('x', 'x', { a: 1 }, '0000000000000000')).toThrow(EventTooLargeError);
  });

  it('refuses a cyclic event with EventSerializationError', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(() => codec().encode('x', 'x', cyclic, '0000000000000000')).toThrow(EventSerializationError);
  });

  it('refuses a BigInt with EventSerializationError that keeps the original error as cause', () => {
    try {
      codec().encode('x', 'x', { n: 10n }, '0000000000000000');
      throw new Error('expected a throw');
    } catch (err) {
      expect(err).toBeInstanceOf(EventSerializationError);
      expect((err as EventSerializationError).message).toMatch(/not serialisable/);
      expect((err as EventSerializationError).cause).toBeInstanceOf(TypeError);
    }
  });

  it('refuses an event whose toJSON throws', () => {
    const bad = {
      toJSON() {
        throw new Error('nope');
      },
    };
    expect(() => codec().encode('x', 'x', bad, '0000000000000000')).toThrow(/nope/);
  });
});

describe('EventCodec.decode', () => {
  it('decodes a goevent message and rebuilds the registered class', () => {
    const incoming = codec().decode(wire({ event_data: { id: 'o1', amount: 4 }, origin: 'bus-2' }), 'goevent:codec.plain');
    expect(incoming).toMatchObject({ name: 'codec.plain', type: 'codec.plain', handleId: '0123456789abcdef', origin: 'bus-2' });
    expect(incoming.event).toBeInstanceOf(PlainEvent);
    expect((incoming.event as PlainEvent).total()).toBe(8);
    expect({ ...(incoming.event as object) }).toEqual({ id: 'o1', amount: 4 });
  });

  it('round-trips an encoded event', () => {
    const c = codec();
    const out = c.encode('codec.plain', 'codec.plain', new PlainEvent('r', 1), 'aaaaaaaaaaaaaaaa');
    const back = c.decode(out.payload, 'ch');
    expect(back.event).toBeInstanceOf(PlainEvent);
    expect(back.event).toEqual(new PlainEvent('r', 1));
    expect(back.handleId).toBe('aaaaaaaaaaaaaaaa');
  });

  it('decodes a Buffer as well as a string', () => {
    expect(codec().decode(Buffer.from(wire({ event_data: { id: 'b', amount: 1 } })), 'ch').event).toBeInstanceOf(PlainEvent);
  });

  it('uses the class fromJSON() when it has one', () => {
    const incoming = codec().decode(
      wire({ event_name: 'codec.dated', event_type: 'codec.dated', event_data: { at: '2026-01-01T00:00:00.000Z' } }),
      'ch',
    );
    expect(incoming.event).toBeInstanceOf(DatedEvent);
    expect((incoming.event as DatedEvent).at).toBeInstanceOf(Date);
    expect((incoming.event as DatedEvent).at.getTime()).toBe(Date.parse('2026-01-01T00:00:00.000Z'));
  });

  it('rejects a message whose fromJSON throws, with the reason', () => {
    const e = rejection(() => codec().decode(wire({ event_name: 'codec.failing', event_type: 'codec.failing' }), 'ch'));
    expect(e.reason).toMatch(/fromJSON failed: bad shape/);
  });

  it('rebuilds by the versioned type key, not the name', () => {
    const incoming = codec().decode(wire({ event_name: 'codec.versioned', event_type: 'codec.versioned.v2', event_data: { v: 2 } }), 'ch');
    expect(incoming.event).toBeInstanceOf(VersionedEvent);
    expect(incoming.type).toBe('codec.versioned.v2');
  });

  it('falls back to event_name when event_type is missing', () => {
    const incoming = codec().decode(JSON.stringify({ event_name: 'codec.plain', event_data: { id: 'n', amount: 1 } }), 'ch');
    expect(incoming.type).toBe('codec.plain');
    expect(incoming.event).toBeInstanceOf(PlainEvent);
  });

  it('gives plain data for an unregistered type, and ignores unknown fields', () => {
    const incoming = codec().decode(
      wire({ event_name: 'go.only', event_type: 'go.only', event_data: { k: [1, 2] }, headers: { a: 'b' } }),
      'ch',
    );
    expect(incoming.event).toEqual({ k: [1, 2] });
    expect(Object.getPrototypeOf(incoming.event)).toBe(Object.prototype);
  });

  it('with strictTypes rejects an unregistered type and still accepts a registered one', () => {
    const e = rejection(() =>
      codec({ strictTypes: true }).decode(wire({ event_name: 'go.only', event_type: 'go.only' }), 'goevent:go.only'),
    );
    expect(e.reason).toMatch(/unknown event_type 'go.only'/);
    expect(e.channel).toBe('goevent:go.only');
    expect(codec({ strictTypes: true }).decode(wire({ event_data: { id: 's', amount: 1 } }), 'ch').event).toBeInstanceOf(PlainEvent);
  });

  it('rejects malformed JSON naming the channel and the size', () => {
    const raw = '{"event_name": "x", ';
    const e = rejection(() => codec().decode(raw, 'goevent:x'));
    expect(e.channel).toBe('goevent:x');
    expect(e.size).toBe(Buffer.byteLength(raw));
    expect(e.reason).toMatch(/malformed JSON/);
    expect(e.message).toContain('goevent:x');
  });

  it('rejects JSON that is not an object envelope', () => {
    for (const raw of ['[1,2]', '"text"', '42', 'null', 'true']) {
      expect(rejection(() => codec().decode(raw, 'ch')).reason).toMatch(/not a JSON object/);
    }
  });

  it('rejects an envelope without an event name', () => {
    expect(rejection(() => codec().decode(JSON.stringify({ event_data: {} }), 'ch')).reason).toMatch(/event_name/);
    expect(rejection(() => codec().decode(JSON.stringify({ event_name: '' }), 'ch')).reason).toMatch(/event_name/);
    expect(rejection(() => codec().decode(JSON.stringify({ event_name: 7 }), 'ch')).reason).toMatch(/event_name/);
  });

  it('rejects a message over the size limit before parsing it', () => {
    const raw = wire({ event_data: { s: 'y'.repeat(300) } });
    const e = rejection(() => codec({ maxEventSize: 100 }).decode(raw, 'ch'));
    expect(e.size).toBe(Buffer.byteLength(raw));
    expect(e.reason).toMatch(/size limit of 100 bytes/);
  });

  it('counts the limit in UTF-8 bytes, not characters', () => {
    const text = (chars: number) => wire({ event_data: { s: '€'.repeat(chars) } }); // '€' is 3 bytes in UTF-8
    const base = Buffer.byteLength(text(0));
    const limit = base + 90;
    // 30 characters, 90 bytes: fits exactly; 31 characters are 93 bytes: over, although far fewer than `limit` characters.
    expect(() => codec({ maxEventSize: limit }).decode(text(30), 'ch')).not.toThrow();
    const e = rejection(() => codec({ maxEventSize: limit }).decode(text(31), 'ch'));
    expect(e.size).toBe(base + 93);
    expect(e.reason).toMatch(/size limit/);
    // The same limit on a Buffer (what the pub/sub driver receives) is its byte length.
    expect(rejection(() => codec({ maxEventSize: limit }).decode(Buffer.from(text(31)), 'ch')).size).toBe(base + 93);
  });

  describe('poisoned keys', () => {
    const cases: Array<[string, string]> = [
      ['__proto__ at the top of event_data', '{"event_name":"codec.plain","event_data":{"__proto__":{"polluted":true}}}'],
      ['constructor nested deep', '{"event_name":"go.only","event_data":{"a":{"b":[{"constructor":{"prototype":{"x":1}}}]}}}'],
      ['prototype in an array', '{"event_name":"go.only","event_data":[{"prototype":1}]}'],
      ['prototype after plain values in an array', '{"event_name":"go.only","event_data":{"list":[1,"a",null,true,{"prototype":1}]}}'],
      ['__proto__ in nested arrays', '{"event_name":"go.only","event_data":[[[],[{"ok":1},[{"__proto__":{"polluted":true}}]]]]}'],
      ['__proto__ in the envelope itself', '{"event_name":"go.only","__proto__":{"polluted":true},"event_data":{}}'],
      ['__proto__ with spaces before the colon', '{"event_name":"go.only","event_data":{"__proto__"  :  {"polluted":true}}}'],
      ['__proto__ spelled with a unicode escape', '{"event_name":"go.only","event_data":{"\\u005f_proto__":{"polluted":true}}}'],
      [
        'constructor spelled with unicode escapes',
        '{"event_name":"codec.plain","event_data":{"x":{"\\u0063onstructor":{"\\u0070rototype":{"polluted":true}}}}}',
      ],
    ];
    for (const [label, raw] of cases) {
      it(`rejects ${label}`, () => {
        const e = rejection(() => codec().decode(raw, 'goevent:x'));
        expect(e.reason).toMatch(/forbidden key '(__proto__|constructor|prototype)'/);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });
    }

    it('accepts keys that merely contain those words', () => {
      const incoming = codec().decode('{"event_name":"go.only","event_data":{"my_constructor":1,"prototypes":2,"text":"__proto__"}}', 'ch');
      expect(incoming.event).toEqual({ my_constructor: 1, prototypes: 2, text: '__proto__' });
    });
  });

  it('rebuilds without going through __proto__: the instance has its own fields and the class prototype', () => {
    const incoming = codec().decode(wire({ event_data: { id: 'p', amount: 2, extra: 'kept' } }), 'ch');
    const event = incoming.event as Record<string, unknown>;
    expect(Object.getPrototypeOf(event)).toBe(PlainEvent.prototype);
    expect(Object.keys(event).sort()).toEqual(['amount', 'extra', 'id']);
    expect(Object.prototype.hasOwnProperty.call(event, 'id')).toBe(true);
  });
});

@DomainEvent('codec.go.order', { type: 'codec.go.order.v2' })
class GoOrderV2 {
  constructor(readonly orderId: string) {}
}

@DomainEvent('codec.ambiguous', { type: 'codec.ambiguous.v1' })
class AmbiguousV1 {}
@DomainEvent('codec.ambiguous', { type: 'codec.ambiguous.v2' })
class AmbiguousV2 {}

describe('EventCodec.decode: what a message may claim', () => {
  it('rebuilds a versioned class from a goevent sender that sends the event name as event_type', () => {
    const incoming = codec().decode(
      wire({ event_name: 'codec.go.order', event_type: 'codec.go.order', event_data: { orderId: 'o1' } }),
      'goevent:codec.go.order',
    );
    expect(incoming.event).toBeInstanceOf(GoOrderV2);
    expect((incoming.event as GoOrderV2).orderId).toBe('o1');
    // Under strictTypes too: the type is then known.
    const strict = codec({ strictTypes: true }).decode(
      wire({ event_name: 'codec.go.order', event_type: 'codec.go.order', event_data: { orderId: 'o2' } }),
      'ch',
    );
    expect(strict.event).toBeInstanceOf(GoOrderV2);
  });

  it('does not guess when two classes are registered for the name', () => {
    const incoming = codec().decode(wire({ event_name: 'codec.ambiguous', event_type: 'codec.ambiguous', event_data: { a: 1 } }), 'ch');
    expect(incoming.event).not.toBeInstanceOf(AmbiguousV1);
    expect(incoming.event).not.toBeInstanceOf(AmbiguousV2);
    expect(incoming.event).toEqual({ a: 1 });
    expect(codec().decode(wire({ event_name: 'codec.ambiguous', event_type: 'codec.ambiguous.v2' }), 'ch').event).toBeInstanceOf(
      AmbiguousV2,
    );
  });

  it('rejects an event_name that is not the event of its channel', () => {
    const e = rejection(() =>
      codec().decode(wire({ event_name: 'user.deleted', event_type: 'user.deleted' }), 'goevent:user.registered', 'user.registered'),
    );
    expect(e.channel).toBe('goevent:user.registered');
    expect(e.reason).toBe("event_name 'user.deleted' is not the event of this channel ('user.registered')");
    // The same message on its own channel is accepted.
    expect(
      codec().decode(wire({ event_name: 'user.deleted', event_type: 'user.deleted' }), 'goevent:user.deleted', 'user.deleted').name,
    ).toBe('user.deleted');
  });

  it('rejects an event_type whose class is registered for another event name', () => {
    const e = rejection(() =>
      codec().decode(
        wire({ event_name: 'codec.other', event_type: 'codec.plain', event_data: { id: 'x', amount: 1 } }),
        'goevent:codec.other',
        'codec.other',
      ),
    );
    expect(e.reason).toBe("event_type 'codec.plain' is registered for event 'codec.plain', not 'codec.other'");
  });

  it('rejects typed data that is not an object, naming what it got', () => {
    const cases: Array<[unknown, string]> = [
      ['text', 'a string'],
      [null, 'null'],
      [[1, 2], 'an array'],
      [7, 'a number'],
    ];
    for (const [data, kind] of cases) {
      const e = rejection(() => codec().decode(wire({ event_data: data }), 'ch'));
      expect(e.reason).toBe(`event_data of 'codec.plain' (PlainEvent) must be a JSON object (got ${kind})`);
    }
    const missing = rejection(() => codec().decode(JSON.stringify({ event_name: 'codec.plain', event_type: 'codec.plain' }), 'ch'));
    expect(missing.reason).toMatch(/must be a JSON object \(got nothing\)/);
    // Untyped events may carry any JSON value.
    expect(codec().decode(wire({ event_name: 'go.only', event_type: 'go.only', event_data: 'text' }), 'ch').event).toBe('text');
  });

  for (const key of ['toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'toLocaleString', '__defineGetter__']) {
    it(`rejects the key '${key}', which would shadow an Object.prototype method`, () => {
      const e = rejection(() => codec().decode(wire({ event_data: { id: 'x', nested: { [key]: 1 } } }), 'ch'));
      expect(e.reason).toBe(`forbidden key '${key}' in event data`);
    });
  }

  it('rejects nesting past the depth limit, and accepts it at the limit', () => {
    const nest = (levels: number): unknown => (levels === 0 ? 1 : { a: nest(levels - 1) });
    expect(() => codec().decode(wire({ event_name: 'go.only', event_type: 'go.only', event_data: nest(64) }), 'ch')).not.toThrow();
    const e = rejection(() => codec().decode(wire({ event_name: 'go.only', event_type: 'go.only', event_data: nest(65) }), 'ch'));
    expect(e.reason).toBe('event_data nests deeper than 64 levels (redis.maxEventDepth)');
    // Configurable; brackets inside strings do not count.
    expect(
      rejection(() => codec({ maxDepth: 2 }).decode(wire({ event_name: 'go.only', event_type: 'go.only', event_data: nest(3) }), 'ch'))
        .reason,
    ).toMatch(/deeper than 2 levels/);
    expect(
      codec({ maxDepth: 1 }).decode(wire({ event_name: 'go.only', event_type: 'go.only', event_data: { s: '[[[{{{' } }), 'ch').event,
    ).toEqual({ s: '[[[{{{' });
    // Levels are counted per branch: a deep branch after a shallow sibling, arrays and objects alike.
    const mixed = (last: number): string =>
      wire({ event_name: 'go.only', event_type: 'go.only', event_data: [{ a: [1] }, 'x', nest(last)] });
    expect(() => codec().decode(mixed(63), 'ch')).not.toThrow();
    expect(rejection(() => codec().decode(mixed(64), 'ch')).reason).toMatch(/deeper than 64/);
    // 100,000 levels: rejected, not a stack overflow.
    const deep = '{"event_name":"go.only","event_data":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    expect(rejection(() => codec().decode(deep, 'ch')).reason).toMatch(/deeper than 64/);
  });
});

describe('EventCodec.encode: refuses what every receiver would reject', () => {
  for (const key of ['prototype', 'constructor', '__proto__', 'toString']) {
    it(`refuses data with an own '${key}' key`, () => {
      const data = JSON.parse(`{"nested":{"${key}":"p"}}`);
      expect(() => codec().encode('x.y', 'x.y', data, '0123456789abcdef')).toThrow(EventSerializationError);
      expect(() => codec().encode('x.y', 'x.y', data, '0123456789abcdef')).toThrow(
        `event data has the key '${key}', which receivers reject (it reaches or shadows Object.prototype); rename it`,
      );
    });
  }

  it('refuses data nested past the depth limit, and sends data at the limit', () => {
    const nest = (levels: number): unknown => (levels === 0 ? 1 : [nest(levels - 1)]);
    expect(() => codec().encode('x.y', 'x.y', nest(64), '0123456789abcdef')).not.toThrow();
    expect(() => codec().encode('x.y', 'x.y', nest(65), '0123456789abcdef')).toThrow(
      'event data nests deeper than 64 levels (redis.maxEventDepth); flatten it or raise the limit',
    );
  });

  it('sends keys and strings that merely mention those words', () => {
    const out = codec().encode('x.y', 'x.y', { my_constructor: 1, text: '"prototype": 1', toStringish: 2 }, '0123456789abcdef');
    expect(JSON.parse(out.payload).event_data).toEqual({ my_constructor: 1, text: '"prototype": 1', toStringish: 2 });
  });
});
