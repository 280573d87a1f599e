import { describe, expect, it } from 'vitest';
import { bootApp } from '../support/boot-app';

describe('a listener rethrowing an EventError of an earlier dispatch', () => {
  it('is recorded as its own failure on this handle, with this handle id and listener name', async () => {
    const { bus, close } = await bootApp();
    try {
      bus.registerListener({
        name: 'First',
        eventName: 'rethrow.first',
        onEvent: () => {
          throw new Error('original');
        },
      });
      const first = await bus.dispatch('rethrow.first', {});
      const earlier = first.errors[0];
      bus.registerListener({
        name: 'Second',
        eventName: 'rethrow.first',
        onEvent: () => {
          throw earlier;
        },
      });
      const before = bus.stats().listenerErrors;
      const second = await bus.dispatch('rethrow.first', {});
      expect(second.errors).toHaveLength(2);
      const rethrown = second.errors.find((e) => e.listener === 'Second')!;
      expect(rethrown).not.toBe(earlier);
      expect(rethrown.handleId).toBe(second.id);
      expect(rethrown.cause).toBe(earlier);
      expect(bus.stats().listenerErrors - before).toBe(2);
    } finally {
      await close();
    }
  });
});
