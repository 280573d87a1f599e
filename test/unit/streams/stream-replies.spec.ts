import { describe, expect, it } from 'vitest';
import { consumerInfos, deliveryCounts, entriesOfReadReply, parseAutoClaimReply } from '../../../lib/drivers/redis-streams/stream-replies';

describe('stream reply shapes', () => {
  const entries = [
    ['1-0', ['envelope', '{}', 'event_name', 'a']],
    ['2-0', null],
  ];

  it('reads XREADGROUP replies in RESP2 shape, flattened RESP3 maps and RESP3 objects alike', () => {
    const expected = [
      { id: '1-0', fields: { envelope: '{}', event_name: 'a' } },
      { id: '2-0', fields: null },
    ];
    expect(entriesOfReadReply([['k', entries]], 'k')).toEqual(expected);
    expect(entriesOfReadReply(['k', entries], 'k')).toEqual(expected);
    expect(entriesOfReadReply({ k: entries }, 'k')).toEqual(expected);
    expect(entriesOfReadReply(null, 'k')).toEqual([]);
    expect(entriesOfReadReply([['other', entries]], 'k')).toEqual([]);
  });

  it('reads XAUTOCLAIM, extended XPENDING and XINFO CONSUMERS replies', () => {
    expect(parseAutoClaimReply(['5-0', entries, ['3-0']])).toEqual({
      cursor: '5-0',
      entries: [
        { id: '1-0', fields: { envelope: '{}', event_name: 'a' } },
        { id: '2-0', fields: null },
      ],
      deleted: ['3-0'],
    });
    expect(deliveryCounts([['1-0', 'c', 10, 3]])).toEqual(new Map([['1-0', 3]]));
    expect(consumerInfos([['name', 'c1', 'pending', 2, 'idle', 50], { name: 'c2', pending: 0, idle: 9 }])).toEqual([
      { name: 'c1', pending: 2, idle: 50 },
      { name: 'c2', pending: 0, idle: 9 },
    ]);
  });
});
