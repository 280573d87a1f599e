import { describe, expect, it } from 'vitest';
import { subscriptionTarget } from '../../lib/drivers/redis-pubsub/channels';

describe('redis subscription targets', () => {
  it('maps an event name to its goevent channel, literally', () => {
    expect(subscriptionTarget('goevent:', 'user.registered')).toEqual({ kind: 'channel', name: 'goevent:user.registered' });
    // SUBSCRIBE takes channel names literally: nothing to escape.
    expect(subscriptionTarget('goevent:', 'odd[name]?')).toEqual({ kind: 'channel', name: 'goevent:odd[name]?' });
  });

  it('maps * and ** patterns to a PSUBSCRIBE glob that is a superset', () => {
    expect(subscriptionTarget('goevent:', 'user.*')).toEqual({ kind: 'pattern', name: 'goevent:user.*' });
    expect(subscriptionTarget('goevent:', 'user.**')).toEqual({ kind: 'pattern', name: 'goevent:user.*' });
    expect(subscriptionTarget('goevent:', '*.created')).toEqual({ kind: 'pattern', name: 'goevent:*.created' });
    expect(subscriptionTarget('', 'a.*.c.**')).toEqual({ kind: 'pattern', name: 'a.*.c.*' });
  });

  it('escapes glob characters of the prefix and of literal segments', () => {
    expect(subscriptionTarget('svc[1]?:', 'user.*')).toEqual({ kind: 'pattern', name: 'svc\\[1\\]\\?:user.*' });
    expect(subscriptionTarget('p:', 'we\\ird?.*')).toEqual({ kind: 'pattern', name: 'p:we\\\\ird\\?.*' });
  });
});
