import { describe, expect, it } from 'vitest';
import { EventError } from 'nestjs-event-bus';
import { ErrorLog } from '../../lib/dispatch/error-log';

const err = (i: number) => new EventError('e', `L${i}`, '0000000000000000', new Error(`boom ${i}`));
const listeners = (log: ErrorLog) => log.list().map((e) => e.listener);

describe('ErrorLog', () => {
  it('lists errors oldest first', () => {
    const log = new ErrorLog(5);
    for (let i = 0; i < 3; i++) log.push(err(i));
    expect(listeners(log)).toEqual(['L0', 'L1', 'L2']);
  });

  it('is bounded: keeps the latest `capacity` errors and drops the oldest', () => {
    const log = new ErrorLog(3);
    for (let i = 0; i < 10; i++) log.push(err(i));
    expect(listeners(log)).toEqual(['L7', 'L8', 'L9']);
  });

  it('with capacity 1 keeps only the last error', () => {
    const log = new ErrorLog(1);
    log.push(err(1));
    log.push(err(2));
    expect(listeners(log)).toEqual(['L2']);
  });

  it('clear() empties it, and it fills again in order afterwards', () => {
    const log = new ErrorLog(3);
    for (let i = 0; i < 5; i++) log.push(err(i));
    log.clear();
    expect(log.list()).toEqual([]);
    log.push(err(10));
    log.push(err(11));
    expect(listeners(log)).toEqual(['L10', 'L11']);
  });

  it('list() returns a copy that later pushes do not change', () => {
    const log = new ErrorLog(2);
    log.push(err(1));
    const snapshot = log.list();
    log.push(err(2));
    log.push(err(3));
    expect(snapshot.map((e) => e.listener)).toEqual(['L1']);
  });
});
