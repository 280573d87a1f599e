import { RemoteTrackingTimeoutError } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { DispatchHandle, type HandleOwner } from '../../lib/dispatch/dispatch-handle';
import { HandleTracking } from '../../lib/tracking/handle-tracking';
import { TrackingRegistry } from '../../lib/tracking/tracking-registry';

// The registry times out every waiting dispatch with one timer (no timer per dispatch): waits with
// different timeouts, dispatched in any order, each end with their own timeout error, earliest
// deadline first; one that settles before its deadline is not touched.
describe('tracking timeouts', () => {
  let next = 0;
  const owner: HandleOwner = {
    nextHandleId: () => (next++).toString(16).padStart(16, '0'),
    recordError: () => undefined,
    handleSettled: () => undefined,
  };

  it('one timer expires waits of mixed timeouts in deadline order; a settled wait is left alone', async () => {
    const registry = new TrackingRegistry(100, false, () => undefined);
    const ended: string[] = [];
    const start = (label: string, timeoutMs: number): DispatchHandle => {
      const handle = new DispatchHandle(`e.${label}`, owner);
      const wait = registry.begin(handle, new HandleTracking(), `p:e.${label}`, timeoutMs);
      void handle.done.then(() => ended.push(label));
      // The local unit and the publish unit: sent to one receiver that never answers.
      handle._pending++;
      handle._release();
      wait.published(undefined, 1);
      return handle;
    };
    const slow = start('slow', 120);
    const fast = start('fast', 30);
    const middle = start('middle', 70);
    const answered = start('answered', 50);
    // Its receiver answers (the echo of its own copy counts the same).
    registry.ownCopy(answered.id);
    expect(registry.inFlight).toBe(3);
    await slow.done;
    expect(ended).toEqual(['answered', 'fast', 'middle', 'slow']);
    for (const handle of [fast, middle, slow]) {
      expect(handle.errors).toHaveLength(1);
      expect(handle.errors[0].cause).toBeInstanceOf(RemoteTrackingTimeoutError);
      expect((handle.errors[0].cause as RemoteTrackingTimeoutError).expected).toBe(1);
    }
    expect(answered.errors).toEqual([]);
    expect(registry.inFlight).toBe(0);
  });
});
