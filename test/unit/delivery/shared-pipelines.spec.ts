import { describe, expect, it } from 'vitest';
import { SharedPipelines } from '../../../lib/delivery/shared-pipelines';
import { EventBusClosedError } from '../../../lib/errors';
import type { ListenerOptions } from '../../../lib/interfaces/listener-options.interface';
import type { ListenerCall } from '../../../lib/routing/listener-entry';

const hooks = { retrying: () => undefined, count: () => undefined };

describe('SharedPipelines', () => {
  it('gives every key of one listener (same call, same options) one pipeline, closed when the last key lets go', async () => {
    const pipelines = new SharedPipelines(hooks, { retryInProcess: true });
    const call: ListenerCall = () => new Promise(() => undefined);
    const options: ListenerOptions = { concurrency: 1 };
    const a = pipelines.acquire(call, options, 'L');
    const b = pipelines.acquire(call, options, 'L');
    expect(a.call).toBe(b.call);
    const first = Promise.resolve(a.call('first')).catch((e: unknown) => e); // takes the only slot, for both keys
    const waiting = Promise.resolve(b.call('second')).catch((e: unknown) => e);
    await a.close();
    await a.close(); // idempotent: releases once
    // Still open for b: a third event queues behind the first.
    const third = Promise.resolve(b.call('third')).catch((e: unknown) => e);
    await b.close();
    expect(await waiting).toBeInstanceOf(EventBusClosedError);
    expect(await third).toBeInstanceOf(EventBusClosedError);
    void first;
  });

  it('keeps listeners apart: another call or another options object gets its own pipeline', () => {
    const pipelines = new SharedPipelines(hooks, { retryInProcess: true });
    const call: ListenerCall = () => undefined;
    const options: ListenerOptions = { concurrency: 1 };
    const first = pipelines.acquire(call, options, 'L');
    expect(pipelines.acquire(() => undefined, options, 'M').call).not.toBe(first.call);
    expect(pipelines.acquire(call, { concurrency: 1 }, 'L').call).not.toBe(first.call);
  });

  it('a listener without policies is still called directly', () => {
    const pipelines = new SharedPipelines(hooks, { retryInProcess: true });
    const call: ListenerCall = () => undefined;
    expect(pipelines.acquire(call, {}, 'L').call).toBe(call);
  });

  it('after the last release, registering again builds a fresh pipeline', async () => {
    const pipelines = new SharedPipelines(hooks, { retryInProcess: true });
    const call: ListenerCall = (e) => e;
    const options: ListenerOptions = { concurrency: 1 };
    const old = pipelines.acquire(call, options, 'L');
    await old.close();
    const again = pipelines.acquire(call, options, 'L');
    expect(again.call).not.toBe(old.call);
    expect(again.call('ok')).toBe('ok');
  });
});
