import { describe, expect, it } from 'vitest';
import { BoundedQueue, type BoundedQueueOptions } from '../../../lib/delivery/bounded-queue';
import { EventBusClosedError, QueueFullError } from '../../../lib/errors';

function deferred() {
  let resolve!: (v?: unknown) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function setup(options: Partial<BoundedQueueOptions>, listener: (event: unknown) => unknown) {
  const counts = { overflowed: 0, abandoned: 0 };
  const queue = new BoundedQueue(
    listener,
    { concurrency: 1, maxQueue: Number.POSITIVE_INFINITY, overflow: 'reject', ...options },
    { overflowed: () => counts.overflowed++, abandoned: () => counts.abandoned++ },
    () => new EventBusClosedError('closed'),
  );
  return { queue, counts };
}

const outcome = (run: () => unknown): Promise<unknown> => {
  try {
    return Promise.resolve(run()).then(
      (v) => ['ok', v],
      (e: unknown) => ['err', e],
    );
  } catch (e) {
    return Promise.resolve(['err', e]);
  }
};

describe('BoundedQueue', () => {
  it('runs at most `concurrency` calls at once and the rest in FIFO order', async () => {
    const gates = new Map<number, ReturnType<typeof deferred>>();
    const started: number[] = [];
    let running = 0;
    let peak = 0;
    const { queue } = setup({ concurrency: 2 }, async (e) => {
      const n = e as number;
      started.push(n);
      peak = Math.max(peak, ++running);
      const gate = deferred();
      gates.set(n, gate);
      await gate.promise;
      running--;
      return n * 10;
    });
    const results = [1, 2, 3, 4, 5].map((n) => queue.call(n) as Promise<unknown>);
    expect(started).toEqual([1, 2]);
    expect(queue.size).toBe(3);
    gates.get(2)!.resolve();
    await Promise.resolve(results[1]);
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([1, 2, 3]);
    for (const n of [1, 3, 4, 5]) {
      await new Promise((r) => setImmediate(r));
      gates.get(n)!.resolve();
    }
    expect(await Promise.all(results)).toEqual([10, 20, 30, 40, 50]);
    expect(peak).toBe(2);
  });

  it('calls synchronously when a slot is free, and drains synchronous listeners without recursion', async () => {
    const seen: number[] = [];
    let hold = deferred();
    let first = true;
    const { queue } = setup({ concurrency: 1 }, (e) => {
      seen.push(e as number);
      if (first) {
        first = false;
        return hold.promise;
      }
      return e;
    });
    const head = queue.call(0) as Promise<unknown>;
    expect(seen).toEqual([0]);
    const rest = Array.from({ length: 20_000 }, (_, i) => queue.call(i + 1) as Promise<unknown>);
    hold.resolve();
    await head;
    const values = await Promise.all(rest);
    expect(values[19_999]).toBe(20_000);
    expect(seen).toHaveLength(20_001);
    expect(seen.every((v, i) => v === i)).toBe(true);
    hold = deferred();
  });

  it("'reject' fails the new event with QueueFullError when maxQueue are waiting", async () => {
    const gate = deferred();
    const { queue, counts } = setup({ concurrency: 1, maxQueue: 2, overflow: 'reject' }, () => gate.promise);
    const a = outcome(() => queue.call('a'));
    const b = outcome(() => queue.call('b'));
    const c = outcome(() => queue.call('c'));
    const d = outcome(() => queue.call('d'));
    const [kind, error] = (await d) as [string, QueueFullError];
    expect(kind).toBe('err');
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error.overflow).toBe('reject');
    expect(error.maxQueue).toBe(2);
    expect(counts.overflowed).toBe(1);
    gate.resolve();
    expect((await Promise.all([a, b, c])).map((r) => (r as unknown[])[0])).toEqual(['ok', 'ok', 'ok']);
  });

  it("'drop-oldest' fails the oldest waiting event and takes the new one", async () => {
    const gate = deferred();
    const seen: unknown[] = [];
    const { queue, counts } = setup({ concurrency: 1, maxQueue: 2, overflow: 'drop-oldest' }, (e) => {
      seen.push(e);
      return gate.promise;
    });
    const a = outcome(() => queue.call('a'));
    const b = outcome(() => queue.call('b'));
    const c = outcome(() => queue.call('c'));
    const d = outcome(() => queue.call('d'));
    const [kind, error] = (await b) as [string, QueueFullError];
    expect(kind).toBe('err');
    expect(error.overflow).toBe('drop-oldest');
    expect(counts.overflowed).toBe(1);
    gate.resolve();
    await Promise.all([a, c, d]);
    expect(seen).toEqual(['a', 'c', 'd']);
  });

  it('maxQueue 0 rejects whatever finds every slot busy, whatever the overflow', async () => {
    const gate = deferred();
    const { queue } = setup({ concurrency: 1, maxQueue: 0, overflow: 'drop-oldest' }, () => gate.promise);
    const a = outcome(() => queue.call('a'));
    const [kind, error] = (await outcome(() => queue.call('b'))) as [string, QueueFullError];
    expect([kind, error.overflow]).toEqual(['err', 'reject']);
    gate.resolve();
    await a;
  });

  it('a failing call frees its slot (thrown or rejected)', async () => {
    let n = 0;
    const { queue } = setup({ concurrency: 1 }, () => {
      n++;
      if (n === 1) throw new Error('sync');
      if (n === 2) return Promise.reject(new Error('async'));
      return 'ok';
    });
    expect(await outcome(() => queue.call(1))).toEqual(['err', new Error('sync')]);
    expect(await outcome(() => queue.call(2))).toEqual(['err', new Error('async')]);
    expect(await outcome(() => queue.call(3))).toEqual(['ok', 'ok']);
    expect(queue.active).toBe(0);
  });

  it('close() fails waiting events at once, never waits for a call that never settles (go-events Queue.Close hang)', async () => {
    const { queue, counts } = setup({ concurrency: 1 }, () => new Promise(() => undefined));
    void queue.call('stuck');
    const waiting = [outcome(() => queue.call('w1')), outcome(() => queue.call('w2'))];
    queue.close();
    const results = (await Promise.all(waiting)) as Array<[string, unknown]>;
    expect(results.every(([k, e]) => k === 'err' && e instanceof EventBusClosedError)).toBe(true);
    expect(counts.abandoned).toBe(2);
    expect(() => queue.call('late')).toThrow(EventBusClosedError);
    queue.close(); // idempotent
  });
});
