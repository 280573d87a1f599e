import { InvalidOptionsError, MessageRejectedError } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { resolveEventBusOptions } from '../../lib/options/event-bus-options.validator';
import { redisGlobMatches } from '../../lib/tracking/redis-glob';
import { CompactReportBatch, JsonReportBatch } from '../../lib/tracking/report-batch';
import { decodeReport, decodeReports, encodeReportBatch, reportOf } from '../../lib/tracking/report-codec';
import { readyStandaloneBus } from '../support/standalone-bus';

describe('tracking reports', () => {
  it('round-trip: outcomes with name and message, no stack unless asked, never the event', () => {
    const failure = new RangeError('too big');
    const raw = reportOf(
      '0123456789abcdef',
      'order.placed',
      'bus1',
      'p:order.placed',
      [
        { listener: 'A.ok', ok: true, attempts: 1, durationMs: 1.23456 },
        { listener: 'B.fails', ok: false, error: failure, attempts: 3, durationMs: 10 },
      ],
      false,
    );
    const report = decodeReport(raw, 'p:__reports:x');
    expect(report).toEqual({
      handleId: '0123456789abcdef',
      eventName: 'order.placed',
      reporter: 'bus1',
      via: 'p:order.placed',
      outcomes: [
        { listener: 'A.ok', ok: true, attempts: 1, durationMs: 1.235 },
        { listener: 'B.fails', ok: false, attempts: 3, durationMs: 10, error: { name: 'RangeError', message: 'too big' } },
      ],
    });
    expect(
      decodeReport(
        reportOf('0123456789abcdef', 'e', 'b', 'v', [{ listener: 'L', ok: false, error: failure, attempts: 1, durationMs: 0 }], true),
        'c',
      ).outcomes[0].error?.stack,
    ).toContain('RangeError: too big');
  });

  it.each([
    ['not json', 'malformed JSON'],
    ['42', 'not a JSON object'],
    ['[]', 'a batch of 0 reports'],
    [`[${'{},'.repeat(1000)}{}]`, 'a batch of 1001 reports'],
    ['{"v":3}', 'unknown version'],
    ['{"v":2,"reporter":"r","names":["e"],"reports":[]}', 'a batch of 0 reports'],
    ['{"v":2,"reporter":"r","names":["e",7],"reports":[["0123456789abcdef",0,0]]}', 'names is not a list'],
    ['{"v":2,"names":["e"],"reports":[["0123456789abcdef",0,0]]}', 'reporter'],
    ['{"v":1,"handle_id":"ABC"}', 'handle_id'],
    [
      '{"v":1,"handle_id":"0123456789abcdef","event_name":"e","reporter":"r","via":"v","outcomes":[{"listener":"L","ok":false,"attempts":1,"duration_ms":1}]}',
      'without an error',
    ],
    [
      '{"v":1,"handle_id":"0123456789abcdef","event_name":"e","reporter":"r","via":"v","outcomes":[{"listener":"L","ok":true,"attempts":0,"duration_ms":1}]}',
      'attempts',
    ],
  ])('refuses %s (%s) with a MessageRejectedError naming the channel', (raw, reason) => {
    let caught: unknown;
    try {
      decodeReport(raw, 'p:__reports:me');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MessageRejectedError);
    expect((caught as MessageRejectedError).channel).toBe('p:__reports:me');
    expect((caught as MessageRejectedError).reason).toContain(reason);
  });

  it('the compact format: reporter and names once per message, decoded to the same reports as the JSON objects', () => {
    const failure = new TypeError('no card');
    const copies = [
      {
        handleId: '0000000000000001',
        name: 'order.placed',
        via: 'p:order.*',
        outcomes: [{ listener: 'A.ok', ok: true, attempts: 1, durationMs: 1.23456 }],
      },
      {
        handleId: '0000000000000002',
        name: 'order.placed',
        via: 'p:order.*',
        outcomes: [
          { listener: 'A.ok', ok: true, attempts: 2, durationMs: -1 },
          { listener: 'B.fails', ok: false, error: failure, attempts: 3, durationMs: 10 },
        ],
      },
      { handleId: '0000000000000003', name: 'order.shipped', via: 'p:order.*', outcomes: [] },
    ];
    const compact = new CompactReportBatch('bus1', false);
    const json = new JsonReportBatch('bus1', false);
    for (const copy of copies) {
      compact.add(copy);
      json.add(copy);
    }
    expect([compact.count, json.count]).toEqual([3, 3]);
    const message = compact.finish();
    expect(JSON.parse(message)).toMatchObject({
      v: 2,
      reporter: 'bus1',
      names: ['order.placed', 'p:order.*', 'A.ok', 'B.fails', 'order.shipped'],
    });
    expect(message.length).toBeLessThan(json.finish().length / 2);
    const fromCompact = decodeReports(message, 'c');
    expect(fromCompact.refused).toEqual([]);
    expect(fromCompact.reports).toEqual(decodeReports(json.finish(), 'c').reports);
    expect(fromCompact.reports[1].outcomes).toEqual([
      { listener: 'A.ok', ok: true, attempts: 2, durationMs: 0 },
      { listener: 'B.fails', ok: false, attempts: 3, durationMs: 10, error: { name: 'TypeError', message: 'no card' } },
    ]);
    const withStack = new CompactReportBatch('bus1', true);
    withStack.add(copies[1]);
    expect(decodeReport(withStack.finish(), 'c').outcomes[1].error?.stack).toContain('TypeError: no card');
  });

  it.each([
    [['nothex', 0, 0], 'handle_id'],
    [['0123456789abcdef', 5, 0], 'event name is no index'],
    [['0123456789abcdef', 0, -1], 'via is no index'],
    [['0123456789abcdef', 0, 0, [9, 1, 1]], 'listener is no index'],
    [['0123456789abcdef', 0, 0, [0, 0, 1]], 'attempts'],
    [['0123456789abcdef', 0, 0, [0, 1, 'soon']], 'duration_ms'],
    [['0123456789abcdef', 0, 0, [0, 1, 1, { name: 'E' }]], 'without an error name and message'],
    [['0123456789abcdef', 0, 0, [0, 1]], 'is not a [listener, attempts, duration_ms, error?] list'],
    [{ handle_id: '0123456789abcdef' }, 'not a [handle_id, name, via, ...outcomes] list'],
  ])('a compact report %j is refused alone (%s); the others in its message count', (bad, reason) => {
    const good = ['0000000000000001', 0, 0, [0, 1, 0.5]];
    const { reports, refused } = decodeReports(JSON.stringify({ v: 2, reporter: 'r', names: ['e'], reports: [good, bad] }), 'c');
    expect(reports.map((r) => r.handleId)).toEqual(['0000000000000001']);
    expect(refused).toHaveLength(1);
    expect(refused[0].reason).toContain(`report 1 of the batch: `);
    expect(refused[0].reason).toContain(reason);
  });

  it('a batch: several reports in one message, one parse; a malformed one inside is refused alone', () => {
    const ok = (id: string): string => reportOf(id, 'e', 'bus1', 'p:e', [{ listener: 'L', ok: true, attempts: 1, durationMs: 1 }], false);
    const single = ok('0000000000000001');
    expect(encodeReportBatch([single])).toBe(single);
    const batch = encodeReportBatch([ok('0000000000000001'), '{"v":1,"handle_id":"nothex"}', ok('0000000000000002')]);
    const { reports, refused } = decodeReports(batch, 'p:__reports:me');
    expect(reports.map((r) => r.handleId)).toEqual(['0000000000000001', '0000000000000002']);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(MessageRejectedError);
    expect(refused[0].reason).toContain('report 1 of the batch: handle_id');
    // One report is no batch of them, and decodeReport wants exactly one.
    expect(() => decodeReport(batch, 'c')).toThrow(MessageRejectedError);
  });

  it('Redis globs: * spans dots, ? one char, [] sets, \\ escapes', () => {
    expect(redisGlobMatches('p:shop.*.requested', 'p:shop.payment.eu.requested')).toBe(true);
    expect(redisGlobMatches('p:shop.*', 'p:shop')).toBe(false);
    expect(redisGlobMatches('p:a?c', 'p:abc')).toBe(true);
    expect(redisGlobMatches('p:[ab]x', 'p:bx')).toBe(true);
    expect(redisGlobMatches('p:[^ab]x', 'p:bx')).toBe(false);
    expect(redisGlobMatches('p\\*:x', 'p*:x')).toBe(true);
    expect(redisGlobMatches('p\\*:x', 'pp:x')).toBe(false);
  });

  it('tracking options are validated', () => {
    expect(resolveEventBusOptions({}).tracking).toEqual({ maxInFlight: 10_000, reportStacks: false });
    expect(() => resolveEventBusOptions({ tracking: { maxInFlight: 0 } })).toThrow(InvalidOptionsError);
    expect(() => resolveEventBusOptions({ tracking: { maxInFlight: 1.5 } })).toThrow(/tracking.maxInFlight/);
    expect(() => resolveEventBusOptions({ tracking: { reportStacks: 'yes' as unknown as boolean } })).toThrow(/tracking.reportStacks/);
    expect(() => resolveEventBusOptions({ tracking: { max: 1 } as never })).toThrow(/tracking.max/);
  });

  it('memory driver: trackRemote changes nothing but records the local outcomes; a bad trackRemote is refused on the handle', async () => {
    const { bus } = await readyStandaloneBus();
    let calls = 0;
    bus.registerListener(
      { name: 'A', eventName: 'x.y', onEvent: () => void calls++ },
      {
        name: 'B',
        eventName: 'x.y',
        options: { retry: { attempts: 2, backoff: { baseMs: 1 } } },
        onEvent: () => {
          if (++calls === 2) throw new Error('once');
        },
      },
    );
    const { outcomes, errors } = await bus.dispatch('x.y', {}, { trackRemote: true });
    expect(errors).toEqual([]);
    expect(outcomes.map(({ listener, origin, ok, attempts }) => ({ listener, origin, ok, attempts }))).toEqual([
      { listener: 'A', origin: 'local', ok: true, attempts: 1 },
      { listener: 'B', origin: 'local', ok: true, attempts: 2 },
    ]);
    expect((await bus.dispatch('x.y', {})).outcomes).toEqual([]);
    const bad = bus.dispatch('x.y', {}, { trackRemote: { timeoutMs: -1 } });
    expect(bad.errors[0].cause).toBeInstanceOf(InvalidOptionsError);
    await bus.close();
  });
});
