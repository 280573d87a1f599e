import { EventError } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { deferred, sleep } from '../support/boot-app';
import { useStreamsServer, freshPrefix, pendingCount, until } from '../support/streams-test-app';

/** Listeners and observe() subscriptions coming and going while the redis-streams driver delivers. */
describe('redis-streams subscriptions: unregistering and registering listeners and observers', () => {
  const env = useStreamsServer();
  const boot = env.boot;

  it('unregisterListenersForEvent followed at once (not awaited) by registerListener: the new listener gets the events', async () => {
    const prefix = freshPrefix('rv');
    const app = await boot({}, { url: env.server.url, prefix, streams: { group: 'svc' } });
    const errors: EventError[] = [];
    app.bus.errors$.subscribe((e) => errors.push(e));
    const before: unknown[] = [];
    const after: unknown[] = [];
    app.bus.registerListener({ eventName: 're.registered', name: 'Projector', onEvent: (e: unknown) => void before.push(e) });
    await until(
      async () => ((await env.redis.call('XINFO', 'GROUPS', `${prefix}re.registered`).catch(() => [])) as unknown[]).length === 1,
      5000,
      'the group',
    );
    await app.bus.dispatch('re.registered', 'a');
    await until(() => before.length === 1, 5000, 'the first event');
    const removing = app.bus.unregisterListenersForEvent('re.registered');
    app.bus.registerListener({ eventName: 're.registered', name: 'Projector', onEvent: (e: unknown) => void after.push(e) });
    await removing;
    await app.bus.dispatch('re.registered', 'b');
    await until(() => after.length === 1 || errors.length > 0, 5000, 'the event after re-registering');
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(after).toEqual(['b']);
    expect(before).toEqual(['a']);
    await until(async () => (await pendingCount(env.redis, `${prefix}re.registered`, 'svc:Projector')) === 0, 5000, 'ack');
  });

  it('unregisterListenersForEvent while a delivery runs (listener with timeoutMs): it finishes, is acknowledged, and is not delivered again', async () => {
    const prefix = freshPrefix('rv');
    const app = await boot({}, { url: env.server.url, prefix, streams: { group: 'svc' } });
    const gate = deferred();
    const runs: unknown[] = [];
    const make = () => ({
      eventName: 'mid.delivery',
      name: 'Slow',
      options: { timeoutMs: 5000 },
      onEvent: async (e: unknown) => {
        runs.push(e);
        await gate.promise;
      },
    });
    app.bus.registerListener(make());
    const key = `${prefix}mid.delivery`;
    await until(async () => ((await env.redis.call('XINFO', 'GROUPS', key).catch(() => [])) as unknown[]).length === 1, 5000, 'the group');
    await app.bus.dispatch('mid.delivery', 1);
    await until(() => runs.length === 1, 5000, 'the delivery to start');
    const removing = app.bus.unregisterListenersForEvent('mid.delivery');
    setTimeout(() => gate.resolve(), 100);
    await removing;
    // The running delivery was let finish and acknowledged, not given back for a second run.
    expect(await pendingCount(env.redis, key, 'svc:Slow')).toBe(0);
    app.bus.registerListener(make());
    await app.bus.dispatch('mid.delivery', 2);
    await until(() => runs.includes(2), 5000, 'the next event');
    await sleep(300);
    expect(runs).toEqual([1, 2]);
  });

  it('observe() ended and started again at once on the same event: the new subscription gets the events', async () => {
    const prefix = freshPrefix('rv');
    const app = await boot({}, { url: env.server.url, prefix, streams: { group: 'svc' } });
    const errors: EventError[] = [];
    app.bus.errors$.subscribe((e) => errors.push(e));
    const first: unknown[] = [];
    const second: unknown[] = [];
    const subscription = app.bus.observe('observed.event').subscribe((e) => first.push(e));
    const key = `${prefix}observed.event`;
    await until(async () => ((await env.redis.call('XINFO', 'GROUPS', key).catch(() => [])) as unknown[]).length === 1, 5000, 'the group');
    await app.bus.dispatch('observed.event', 'a');
    await until(() => first.length === 1, 5000, 'the first event');
    subscription.unsubscribe();
    const again = app.bus.observe('observed.event').subscribe((e) => second.push(e));
    try {
      await sleep(300);
      await app.bus.dispatch('observed.event', 'b');
      await until(() => second.length === 1 || errors.length > 0, 5000, 'the event for the new subscription');
      expect(errors.map((e) => e.message)).toEqual([]);
      expect({ first, second }).toEqual({ first: ['a'], second: ['b'] });
    } finally {
      again.unsubscribe();
    }
  });
});
