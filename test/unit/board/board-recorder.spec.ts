import { describe, expect, it } from 'vitest';
import { BoardLiveness } from '../../../lib/board/board-liveness';
import type { BoardSource } from '../../../lib/board/board-source.interface';
import { EventBoardRecorder, LATEST_EVENTS, PAYLOAD_LIMIT } from '../../../lib/board/event-board.recorder';
import { RingBuffer } from '../../../lib/board/ring-buffer';

describe('event board memory and liveness', () => {
  it('the ring buffer keeps only the newest items', () => {
    const ring = new RingBuffer<number>(3);
    for (let i = 1; i <= 7; i++) ring.push(i);
    expect(ring.newestFirst()).toEqual([7, 6, 5]);
    expect(ring.length).toBe(3);
  });

  it('the recorder keeps the latest events only (a burst lists its first ones), and payloads only when asked, truncated', async () => {
    const hidden = new EventBoardRecorder(false);
    // One tick (a tight loop): the first LATEST_EVENTS are listed, the rest only counted.
    for (let i = 0; i < LATEST_EVENTS + 50; i++) if (hidden.listing) hidden.dispatched('e', `${i}`, { secret: 's' });
    expect(hidden.latestEvents()).toHaveLength(LATEST_EVENTS);
    expect(hidden.unlisted).toBe(50);
    await Promise.resolve();
    // The next tick lists again; the oldest entries make room.
    for (let i = 0; i < 30; i++) hidden.dispatched('e', `next-${i}`, { secret: 's' });
    const latest = hidden.latestEvents();
    expect(latest).toHaveLength(LATEST_EVENTS);
    expect(latest[0].handleId).toBe('next-29');
    expect(latest.every((e) => e.payload === undefined)).toBe(true);
    const shown = new EventBoardRecorder(true);
    const record = shown.dispatched('e', 'h', { big: 'x'.repeat(PAYLOAD_LIMIT * 2) })!;
    expect(record.payload!.length).toBeLessThan(PAYLOAD_LIMIT + 30);
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expect(shown.dispatched('e', 'h2', cyclic)!.payload).toBe('(not serialisable)');
    shown.dispatchSettled(record, 1);
    expect(record).toMatchObject({ outcome: 'failed', errors: 1 });
    expect(record.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('counts calls and failures per listener', () => {
    const recorder = new EventBoardRecorder(false);
    recorder.deliveryEnded('a', 'L.x', recorder.deliveryStarted(), false);
    recorder.deliveryEnded('a', 'L.x', recorder.deliveryStarted(), true, new Error('no'));
    expect(recorder.tallyOf('a', 'L.x')).toMatchObject({ calls: 2, failures: 1, consecutiveFailures: 1 });
    expect(recorder.tallyOf('b', 'L.x')).toBeUndefined();
  });

  it('a poll starts watching; it stops a lease after the last poll', async () => {
    let watchers = 0;
    const source = {
      watch: () => {
        watchers++;
        return () => {
          watchers--;
        };
      },
    } as unknown as BoardSource;
    const liveness = new BoardLiveness(source, 50);
    expect(watchers).toBe(0);
    liveness.touch();
    liveness.touch();
    expect(watchers).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 30));
    liveness.touch();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(liveness.watching).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(liveness.watching).toBe(false);
    expect(watchers).toBe(0);
  });
});
