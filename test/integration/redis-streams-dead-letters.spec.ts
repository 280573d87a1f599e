import { Injectable } from '@nestjs/common';
import { DeadLetterService, OnEvent, type DeliveryMeta } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { sleep } from '../support/boot-app';
import { useStreamsServer, bootStreamsApp, freshPrefix, rawRedis, until } from '../support/streams-test-app';

/** DeadLetterService on redis-streams: what replay delivers and to whom, paging, concurrent replays, use after close. */
describe('redis-streams dead letters: replay, concurrency, after close', () => {
  const env = useStreamsServer();
  const boot = env.boot;

  it('replay delivers to the listener that failed and to no other listener of the event; list pages with count and after', async () => {
    const prefix = freshPrefix('rv');
    let broken = true;
    const got: Record<string, Array<{ n: number; attempt: number }>> = { Good: [], Bad: [] };
    @Injectable()
    class Good {
      @OnEvent('paged.event')
      run(e: { n: number }, meta: DeliveryMeta) {
        got.Good.push({ n: e.n, attempt: meta.attempt });
      }
    }
    @Injectable()
    class Bad {
      @OnEvent('paged.event', { async: true })
      async run(e: { n: number }, meta: DeliveryMeta) {
        if (broken) throw new Error(`bad ${e.n}`);
        got.Bad.push({ n: e.n, attempt: meta.attempt });
      }
    }
    const app = await boot({ providers: [Good, Bad] }, { url: env.server.url, prefix, streams: { group: 'svc', maxAttempts: 1 } });
    for (const n of [1, 2, 3]) await app.bus.dispatch('paged.event', { n });
    const dlq = app.app.get(DeadLetterService);
    await until(async () => (await dlq.count('paged.event')) === 3 && got.Good.length === 3, 10_000, 'three dead letters');
    const all = await dlq.list('paged.event');
    expect(all.map((l) => l.error)).toEqual(['bad 1', 'bad 2', 'bad 3']);
    const page1 = await dlq.list('paged.event', { count: 2 });
    const page2 = await dlq.list('paged.event', { count: 2, after: page1[1].id });
    expect([...page1, ...page2].map((l) => l.id)).toEqual(all.map((l) => l.id));
    expect(page2).toHaveLength(1);

    broken = false;
    await dlq.replay('paged.event', all[1].id);
    expect(got.Bad).toEqual([{ n: 2, attempt: 2 }]);
    await sleep(200);
    expect(got.Good.map((g) => g.n)).toEqual([1, 2, 3]);
    expect((await dlq.list('paged.event')).map((l) => l.id)).toEqual([all[0].id, all[2].id]);
  });

  it('a dead letter that cannot be written leaves its entry pending (not acknowledged), and it is dead-lettered once the write works', async () => {
    const prefix = freshPrefix('rw');
    @Injectable()
    class Refuses {
      @OnEvent('unwritable.event')
      run() {
        throw new Error('refused');
      }
    }
    const raw = rawRedis(env.server.url);
    try {
      // A string where the dead-letter stream goes: the append fails with WRONGTYPE.
      await raw.set(`${prefix}unwritable.event:dlq`, 'not a stream');
      const app = await boot(
        { providers: [Refuses] },
        { url: env.server.url, prefix, streams: { group: 'svc', maxAttempts: 1, claimIdleMs: 300, blockMs: 100 } },
      );
      await app.bus.dispatch('unwritable.event', { n: 1 }).orThrow();
      const pending = async () => ((await raw.xpending(`${prefix}unwritable.event`, 'svc:Refuses.run')) as [number])[0];
      await until(async () => app.bus.stats().listenerErrors >= 1, 5_000, 'the listener failure');
      await sleep(100);
      expect(await pending()).toBe(1);
      expect(await raw.type(`${prefix}unwritable.event:dlq`)).toBe('string');
      await raw.del(`${prefix}unwritable.event:dlq`);
      const dlq = app.app.get(DeadLetterService);
      await until(async () => (await raw.exists(`${prefix}unwritable.event:dlq`)) === 1, 10_000, 'the dead letter');
      expect(await dlq.count('unwritable.event')).toBe(1);
      await until(async () => (await pending()) === 0, 5_000, 'the entry acknowledged');
    } finally {
      raw.disconnect();
    }
  });

  it('two replays of one dead letter at the same time in one process deliver it once', async () => {
    const prefix = freshPrefix('rv');
    let broken = true;
    const runs: number[] = [];
    @Injectable()
    class Once {
      @OnEvent('replayed.twice')
      async run(_e: unknown, meta: DeliveryMeta) {
        if (broken) throw new Error('broken');
        runs.push(meta.attempt);
        await sleep(50);
      }
    }
    const app = await boot({ providers: [Once] }, { url: env.server.url, prefix, streams: { group: 'svc', maxAttempts: 1 } });
    await app.bus.dispatch('replayed.twice', 1);
    const dlq = app.app.get(DeadLetterService);
    await until(async () => (await dlq.count('replayed.twice')) === 1, 5000, 'the dead letter');
    const [letter] = await dlq.list('replayed.twice');
    broken = false;
    const outcomes = await Promise.allSettled([dlq.replay('replayed.twice', letter.id), dlq.replay('replayed.twice', letter.id)]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(String((outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult).reason)).toMatch(/already being replayed/);
    expect(runs).toEqual([2]);
    expect(await dlq.count('replayed.twice')).toBe(0);
  });

  it('DeadLetterService after app.close() rejects instead of opening a connection that would keep the process alive', async () => {
    const prefix = freshPrefix('rv');
    const clients = async (): Promise<number> =>
      String(await env.redis.call('CLIENT', 'LIST'))
        .split('\n')
        .filter((line) => / name=nestjs-event-bus:streams/.test(line)).length;
    const before = await clients();
    const app = await bootStreamsApp({}, { url: env.server.url, prefix });
    const dlq = app.app.get(DeadLetterService);
    await app.close();
    await expect(dlq.count('anything')).rejects.toThrow(/closed/);
    await sleep(200);
    expect(await clients()).toBe(before);
  });
});
