import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createDeliveryPipeline, type DeliveryCounter, type DeliveryHooks } from '../../../lib/delivery/delivery-pipeline';
import { BreakerOpenError, EventBusClosedError, ListenerTimeoutError, QueueFullError } from '../../../lib/errors';
import type { ListenerOptions } from '../../../lib/interfaces/listener-options.interface';
import type { ListenerCall } from '../../../lib/routing/listener-entry';

function hooks() {
  const counts: Partial<Record<DeliveryCounter, number>> = {};
  const retries: Array<{ listener: string; attempt: number; delayMs: number }> = [];
  const h: DeliveryHooks = {
    retrying: (listener, attempt, _error, delayMs) => retries.push({ listener, attempt, delayMs }),
    count: (counter) => {
      counts[counter] = (counts[counter] ?? 0) + 1;
    },
  };
  return { h, counts, retries };
}

function pipeline(call: ListenerCall, options: ListenerOptions, retryInProcess = true) {
  const hk = hooks();
  const p = createDeliveryPipeline(call, options, 'L.handle', hk.h, { retryInProcess });
  return { ...p, ...hk };
}

const settle = (run: () => unknown): Promise<unknown> => {
  try {
    return Promise.resolve(run()).then(
      (v) => ['ok', v],
      (e: unknown) => ['err', e],
    );
  } catch (e) {
    return Promise.resolve(['err', e]);
  }
};

describe('createDeliveryPipeline', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('returns the listener call itself when no policy is set (zero overhead)', () => {
    const call: ListenerCall = () => undefined;
    expect(createDeliveryPipeline(call, {}, 'L', hooks().h, { retryInProcess: true }).call).toBe(call);
    expect(createDeliveryPipeline(call, { async: true }, 'L', hooks().h, { retryInProcess: true }).call).toBe(call);
    expect(createDeliveryPipeline(call, { retry: { attempts: 1 } }, 'L', hooks().h, { retryInProcess: true }).call).toBe(call);
  });

  it('skips in-process retry on durable drivers (they redeliver) but keeps the other policies', async () => {
    let calls = 0;
    const failing: ListenerCall = () => {
      calls++;
      return Promise.reject(new Error('down'));
    };
    const onlyRetry = pipeline(failing, { retry: { attempts: 5 } }, false);
    expect(onlyRetry.call).toBe(failing);
    const p = pipeline(failing, { retry: { attempts: 5 }, timeoutMs: 100, breaker: { threshold: 1, cooldownMs: 1_000 } }, false);
    expect(await settle(() => p.call('e'))).toEqual(['err', new Error('down')]);
    expect(calls).toBe(1);
    const [kind, err] = (await settle(() => p.call('e'))) as [string, unknown];
    expect([kind, err instanceof BreakerOpenError]).toEqual(['err', true]);
    expect(p.retries).toEqual([]);
    await p.close();
  });

  it('reads retryInProcess at call time: a listener made before the driver was known stops retrying in process', async () => {
    let calls = 0;
    const settings = { retryInProcess: true };
    const p = createDeliveryPipeline(
      () => {
        calls++;
        throw new Error('down');
      },
      { retry: { attempts: 5, backoff: { baseMs: 1 } } },
      'L',
      hooks().h,
      settings,
    );
    settings.retryInProcess = false;
    expect(() => p.call('e')).toThrow('down');
    expect(calls).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('filters first: a filtered event takes no queue slot, is counted, and is not an error', async () => {
    const seen: unknown[] = [];
    const p = pipeline((e) => void seen.push(e), { filter: (e: number) => e % 2 === 0, concurrency: 1, maxQueue: 0 });
    for (let i = 0; i < 100; i++) expect(p.call(i)).toBeUndefined();
    expect(seen).toHaveLength(50);
    expect(p.counts.filtered).toBe(50);
    expect(p.counts.queueOverflows).toBeUndefined();
  });

  it('a retrying call keeps its queue slot: the next event waits until the retries end', async () => {
    const order: string[] = [];
    let failA = 2;
    const p = pipeline(
      (e) => {
        order.push(String(e));
        if (e === 'a' && failA-- > 0) throw new Error('a down');
        return 'ok';
      },
      { concurrency: 1, retry: { attempts: 3, backoff: { baseMs: 10, factor: 1, maxMs: 10 } } },
    );
    const a = settle(() => p.call('a'));
    const b = settle(() => p.call('b'));
    await vi.advanceTimersByTimeAsync(15);
    expect(order).toEqual(['a', 'a']);
    await vi.advanceTimersByTimeAsync(10);
    expect(await a).toEqual(['ok', 'ok']);
    expect(await b).toEqual(['ok', 'ok']);
    expect(order).toEqual(['a', 'a', 'a', 'b']);
    expect(p.retries.map((r) => [r.listener, r.attempt, r.delayMs])).toEqual([
      ['L.handle', 1, 10],
      ['L.handle', 2, 10],
    ]);
  });

  it('timeout is per attempt and counts for retry and breaker', async () => {
    let calls = 0;
    const p = pipeline(
      () => {
        calls++;
        return calls < 3 ? new Promise(() => undefined) : 'ok';
      },
      { timeoutMs: 50, retry: { attempts: 5, backoff: { baseMs: 1, maxMs: 1 } }, breaker: { threshold: 10, cooldownMs: 1_000 } },
    );
    const r = settle(() => p.call('e'));
    await vi.advanceTimersByTimeAsync(200);
    expect(await r).toEqual(['ok', 'ok']);
    expect(calls).toBe(3);
    expect(p.counts.timeouts).toBe(2);
  });

  it('the breaker counts each attempt: a retried event can open it', async () => {
    const p = pipeline(() => Promise.reject(new Error('down')), {
      retry: { attempts: 10, backoff: { baseMs: 1, maxMs: 1 } },
      breaker: { threshold: 3, cooldownMs: 60_000 },
    });
    const r = settle(() => p.call('e'));
    await vi.advanceTimersByTimeAsync(10);
    const [kind, err] = (await r) as [string, BreakerOpenError];
    expect(kind).toBe('err');
    expect(err).toBeInstanceOf(BreakerOpenError);
    expect(err.failures).toBe(3);
    expect(p.retries).toHaveLength(3);
    expect(p.counts.breakerOpens).toBe(1);
    expect(p.counts.breakerRejections).toBe(1);
  });

  it('close() fails queued, retrying, held and timed calls with EventBusClosedError, clears every timer, never hangs', async () => {
    const never = (): Promise<never> => new Promise<never>(() => undefined);
    const p = pipeline((e) => (e === 'stuck' ? never() : Promise.reject(new Error('down'))), {
      concurrency: 2,
      timeoutMs: 60_000,
      retry: { attempts: 5, backoff: { baseMs: 30_000 } },
    });
    const stuck = settle(() => p.call('stuck'));
    const retrying = settle(() => p.call('flaky'));
    const queued = settle(() => p.call('queued'));
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(2); // stuck's timeout, flaky's backoff
    await p.close();
    const results = (await Promise.all([stuck, retrying, queued])) as Array<[string, unknown]>;
    expect(results.map(([k, e]) => [k, e instanceof EventBusClosedError])).toEqual([
      ['err', true],
      ['err', true],
      ['err', true],
    ]);
    expect(p.counts.abandonedOnClose).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
    expect(() => p.call('after')).toThrow(EventBusClosedError);
  });

  it('drop-oldest and reject report each drop through the counters', async () => {
    const p = pipeline(() => new Promise(() => undefined), { concurrency: 1, maxQueue: 1, overflow: 'drop-oldest' });
    void settle(() => p.call(1));
    const second = settle(() => p.call(2));
    void settle(() => p.call(3));
    const [kind, err] = (await second) as [string, QueueFullError];
    expect([kind, err.overflow]).toEqual(['err', 'drop-oldest']);
    expect(p.counts.queueOverflows).toBe(1);
    await p.close();
  });

  it('bounds the queue of a listener with concurrency by default (10 000 waiting), and maxQueue: Infinity opts out', async () => {
    const bounded = pipeline(() => new Promise(() => undefined), { concurrency: 1 });
    void settle(() => bounded.call('running'));
    for (let i = 0; i < 10_000; i++) void settle(() => bounded.call(i));
    const [kind, err] = (await settle(() => bounded.call('one too many'))) as [string, QueueFullError];
    expect(kind).toBe('err');
    expect(err).toBeInstanceOf(QueueFullError);
    expect(err.maxQueue).toBe(10_000);
    expect(bounded.counts.queueOverflows).toBe(1);
    await bounded.close();

    const unbounded = pipeline(() => new Promise(() => undefined), { concurrency: 1, maxQueue: Number.POSITIVE_INFINITY });
    for (let i = 0; i < 20_001; i++) void settle(() => unbounded.call(i));
    await Promise.resolve();
    expect(unbounded.counts.queueOverflows).toBeUndefined();
    await unbounded.close();
  });

  it('a sync listener with policies that succeeds at once still runs synchronously', () => {
    const seen: unknown[] = [];
    const p = pipeline((e) => void seen.push(e), {
      retry: { attempts: 3 },
      breaker: { threshold: 2, cooldownMs: 10 },
      concurrency: 1,
      timeoutMs: 10,
      filter: () => true,
    });
    expect(p.call('now')).toBeUndefined();
    expect(seen).toEqual(['now']);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('fails with ListenerTimeoutError when the only attempt times out', async () => {
    const p = pipeline(() => new Promise(() => undefined), { timeoutMs: 5 });
    const r = settle(() => p.call('e'));
    await vi.advanceTimersByTimeAsync(5);
    const [kind, err] = (await r) as [string, unknown];
    expect([kind, err instanceof ListenerTimeoutError]).toEqual(['err', true]);
  });
});
