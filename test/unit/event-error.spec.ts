import { describe, expect, it } from 'vitest';
import { DispatchFailedError, EventError } from 'nestjs-event-bus';

describe('EventError', () => {
  it("formats its message as goevent does: event '<name>' listener '<listener>': <cause message>", () => {
    const cause = new Error('smtp down');
    const error = new EventError('user.registered', 'EmailNotifier.handle', '3f9c1a7b2e4d5c60', cause);
    expect(error.message).toBe("event 'user.registered' listener 'EmailNotifier.handle': smtp down");
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('EventError');
    expect(error.eventName).toBe('user.registered');
    expect(error.listener).toBe('EmailNotifier.handle');
    expect(error.handleId).toBe('3f9c1a7b2e4d5c60');
    expect(error.cause).toBe(cause);
  });

  it('describes non-Error causes readably', () => {
    expect(new EventError('e', 'L', 'h', 'just text').message).toBe("event 'e' listener 'L': just text");
    expect(new EventError('e', 'L', 'h', { code: 42 }).message).toBe("event 'e' listener 'L': {\"code\":42}");
    expect(new EventError('e', 'L', 'h', undefined).message).toBe("event 'e' listener 'L': undefined");
    expect(new EventError('e', 'L', 'h', null).message).toBe("event 'e' listener 'L': null");
    expect(new EventError('e', 'L', 'h', 7).message).toBe("event 'e' listener 'L': 7");
    expect(new EventError('e', 'L', 'h', 5n).message).toBe("event 'e' listener 'L': 5");
    expect(new EventError('e', 'L', 'h', Symbol('s')).message).toBe("event 'e' listener 'L': Symbol(s)");
  });

  it('never throws while describing a cause that cannot be turned into text', () => {
    const nullProtoCycle = Object.create(null) as Record<string, unknown>;
    nullProtoCycle.self = nullProtoCycle;
    const hostile = {
      toJSON() {
        throw new Error('no json');
      },
      toString() {
        throw new Error('no string');
      },
    };
    for (const cause of [nullProtoCycle, hostile]) {
      const error = new EventError('e', 'L', 'h', cause);
      expect(error.message.startsWith("event 'e' listener 'L': ")).toBe(true);
      expect(error.cause).toBe(cause);
    }
  });
});

describe('DispatchFailedError', () => {
  it('carries the errors and names them in its message', () => {
    const errors = [new EventError('e', 'A.x', 'h', new Error('one')), new EventError('e', 'B.y', 'h', new Error('two'))];
    const failed = new DispatchFailedError('e', 'h', errors);
    expect(failed.errors).toEqual(errors);
    expect(failed.message).toContain('2 errors');
    expect(failed.message).toContain("listener 'A.x': one");
    expect(failed.message).toContain("listener 'B.y': two");
  });
});
