import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EventError, MessageRejectedError } from 'nestjs-event-bus';
import { ErrorLogLimiter } from '../../lib/logging/error-log-limiter';

function sink() {
  const lines: Array<{ level: 'error' | 'warn'; message: string; stack?: string }> = [];
  return {
    lines,
    error: (message: string, stack?: string) => void lines.push({ level: 'error', message, stack }),
    warn: (message: string) => void lines.push({ level: 'warn', message }),
  };
}

const listenerError = (n: number) => new EventError('user.registered', 'Mailer.send', `h${n}`, new Error(`smtp down ${n}`));
const rejected = (n: number, channel = 'goevent:user.registered') =>
  new EventError(
    'user.registered',
    'subscriber',
    '',
    new MessageRejectedError(channel, 100 + n, `forbidden key '__proto__' in event data`),
  );

describe('ErrorLogLimiter', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('logs each error once, listener failures as errors with their stack, rejected messages as warnings', () => {
    const s = sink();
    const limiter = new ErrorLogLimiter(s);
    limiter.report(listenerError(1));
    limiter.report(rejected(1));
    expect(s.lines).toHaveLength(2);
    expect(s.lines[0]).toMatchObject({ level: 'error', message: "event 'user.registered' listener 'Mailer.send': smtp down 1" });
    expect(s.lines[0]!.stack).toMatch(/smtp down 1/);
    expect(s.lines[1]).toMatchObject({ level: 'warn' });
    expect(s.lines[1]!.message).toMatch(/listener 'subscriber': message on 'goevent:user.registered' \(101 bytes\) rejected/);
    limiter.flush();
  });

  it('a flood gives a few lines per kind, then one summary per interval with the count', () => {
    const s = sink();
    const limiter = new ErrorLogLimiter(s, { perKind: 5, intervalMs: 10_000 });
    for (let i = 0; i < 3_166; i++) limiter.report(rejected(i));
    for (let i = 0; i < 7; i++) limiter.report(listenerError(i));
    expect(s.lines).toHaveLength(10);
    vi.advanceTimersByTime(10_000);
    expect(s.lines).toHaveLength(12);
    expect(s.lines[10]!.message).toMatch(
      /^3,161 more errors like this in the last 10 s \(not logged one by one\): event 'user.registered' listener 'subscriber'/,
    );
    expect(s.lines[11]!.message).toMatch(/^2 more errors like this .*smtp down 6$/);
    // The next interval starts afresh.
    limiter.report(listenerError(99));
    expect(s.lines).toHaveLength(13);
    limiter.flush();
  });

  it('keeps no timer when idle, and flush() writes what is pending', () => {
    const s = sink();
    const limiter = new ErrorLogLimiter(s, { perKind: 1, intervalMs: 1_000 });
    expect(vi.getTimerCount()).toBe(0);
    limiter.report(listenerError(1));
    limiter.report(listenerError(2));
    expect(vi.getTimerCount()).toBe(1);
    limiter.flush();
    expect(vi.getTimerCount()).toBe(0);
    expect(s.lines.map((l) => l.message)).toEqual([
      "event 'user.registered' listener 'Mailer.send': smtp down 1",
      "1 more errors like this in the last 1 s (not logged one by one): event 'user.registered' listener 'Mailer.send': smtp down 2",
    ]);
    limiter.report(listenerError(3));
    vi.advanceTimersByTime(1_000);
    vi.advanceTimersByTime(1_000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('tells kinds apart by listener, event, failure type and rejection reason', () => {
    const s = sink();
    const limiter = new ErrorLogLimiter(s, { perKind: 1, intervalMs: 1_000 });
    limiter.report(listenerError(1));
    limiter.report(new EventError('user.registered', 'Audit.log', 'h', new Error('x')));
    limiter.report(new EventError('order.created', 'Mailer.send', 'h', new Error('x')));
    limiter.report(new EventError('user.registered', 'Mailer.send', 'h', new TypeError('x')));
    limiter.report(rejected(1));
    limiter.report(new EventError('user.registered', 'subscriber', '', new MessageRejectedError('c', 1, 'malformed JSON (x)')));
    // Same reason with other particulars: the same kind.
    limiter.report(
      new EventError('user.registered', 'subscriber', '', new MessageRejectedError('c', 1, `forbidden key 'toString' in event data`)),
    );
    expect(s.lines).toHaveLength(6);
    limiter.flush();
  });
});
