import { describe, expect, it } from 'vitest';
import { MessageRejectedError } from 'nestjs-event-bus';
import { EventCodec } from '../../lib/serialization/event-codec';
import { MAX_EVENT_NAME_LENGTH, invalidEventNameReason } from '../../lib/routing/event-name';

describe('event names', () => {
  it('accepts the names apps use', () => {
    for (const name of ['user.registered', 'order.123.created', 'UserRegistered', 'billing:invoice-paid', 'é.✓', 'a'.repeat(255)]) {
      expect(invalidEventNameReason(name)).toBeUndefined();
    }
  });

  it('refuses empty, overlong, whitespace, control characters and wildcards, saying why', () => {
    expect(invalidEventNameReason('')).toBe('an event name must not be empty');
    expect(invalidEventNameReason('a'.repeat(10_000))).toBe(`an event name has at most ${MAX_EVENT_NAME_LENGTH} characters (got 10000)`);
    expect(invalidEventNameReason('user registered')).toBe(
      'an event name cannot contain whitespace or control characters (found " " at 4)',
    );
    expect(invalidEventNameReason('user.registered\r\nQUIT')).toMatch(/found "\\r" at 15/);
    expect(invalidEventNameReason('tab\there')).toMatch(/whitespace/);
    expect(invalidEventNameReason('nul\u0000')).toMatch(/control/);
    expect(invalidEventNameReason('zero\u200bwidth')).toMatch(/control/);
    expect(invalidEventNameReason('nbsp\u00a0')).toMatch(/whitespace/);
    expect(invalidEventNameReason('user.*')).toBe("'*' is for listener patterns; a dispatched event name cannot contain it");
  });

  it('a received message with an invalid event_name is rejected', () => {
    const codec = new EventCodec({ maxEventSize: 1 << 20, strictTypes: false, origin: 'b' });
    const raw = JSON.stringify({ event_name: 'user.a b', event_type: 'user.a b', event_data: {} });
    let error: unknown;
    try {
      codec.decode(raw, 'goevent:user.a b');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(MessageRejectedError);
    expect((error as MessageRejectedError).reason).toMatch(/^invalid event_name: an event name cannot contain whitespace/);
  });
});
