import {
  DomainEvent,
  EventError,
  MessageRejectedError,
  RemoteListenerError,
  RemoteTrackingTimeoutError,
  TrackingLimitError,
} from 'nestjs-event-bus';
import type { EventBus, ListenerOutcome, RedisDriverOptions } from 'nestjs-event-bus';
import type { BusRuntime } from '../../lib/core/bus-runtime';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';
import { rawClient, rawSubscriber, until } from '../support/redis-test-app';
import { readyStandaloneBus } from '../support/standalone-bus';

@DomainEvent('payment.requested')
class PaymentRequested {
  constructor(readonly orderId: string) {}
}

class PaymentDeclinedError extends Error {
  override readonly name = 'PaymentDeclinedError';
}

interface App {
  bus: EventBus;
  runtime: BusRuntime;
  errors: EventError[];
}

let server: RedisServer;
let prefixSeq = 0;
const open: App[] = [];
const raw: Array<{ quit(): Promise<unknown> }> = [];

beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.bus.close()));
  await Promise.all(raw.splice(0).map((c) => c.quit().catch(() => undefined)));
});

function gate(): { wait: Promise<void>; open(): void } {
  let release!: () => void;
  const wait = new Promise<void>((resolve) => (release = resolve));
  return { wait, open: release };
}

function sorted(outcomes: readonly ListenerOutcome[]): ListenerOutcome[] {
  return [...outcomes].sort((a, b) => `${a.origin}${a.listener}`.localeCompare(`${b.origin}${b.listener}`));
}

describe.each([2, 3] as const)('tracking a dispatch across processes, redis pub/sub over RESP%i', (protocol) => {
  let redis: RedisDriverOptions;
  beforeAll(() => undefined);

  async function app(extra: object = {}): Promise<App> {
    const made = await readyStandaloneBus({ driver: 'redis', redis, ...extra });
    const errors: EventError[] = [];
    made.bus.errors$.subscribe((e) => errors.push(e));
    const a = { ...made, errors };
    open.push(a);
    return a;
  }

  /** Waits until `n` buses' subscriptions for `channel` exist on the server. */
  async function subscribed(channel: string, n: number): Promise<void> {
    const client = rawClient(server.url);
    raw.push(client);
    await until(async () => {
      const reply = (await client.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
      return Number(reply[1]) >= n;
    }, `${n} subscriptions of ${channel}`);
  }

  function fresh(): void {
    redis = { url: server.url, channelPrefix: `trk${protocol}-${prefixSeq++}:`, protocol };
  }

  it('a remote listener held by a gate keeps the handle pending; it settles with local and remote outcomes', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app();
    const held = gate();
    publisher.bus.registerListener({ name: 'Local.sync', eventName: 'payment.requested', onEvent: () => undefined });
    receiver.bus.registerListener({ name: 'Billing.charge', eventName: 'payment.requested', onEvent: () => held.wait });
    await subscribed(`${redis.channelPrefix}payment.requested`, 2);

    const handle = publisher.bus.dispatch(new PaymentRequested('o1'), { trackRemote: { timeoutMs: 5_000 } });
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(handle.settled).toBe(false);
    expect(handle.outcomes.map((o) => o.listener)).toEqual(['Local.sync']);
    held.open();
    const { errors, outcomes } = await handle;
    expect(errors).toEqual([]);
    expect(sorted(outcomes).map(({ listener, origin, ok, attempts }) => ({ listener, origin, ok, attempts }))).toEqual([
      { listener: 'Local.sync', origin: 'local', ok: true, attempts: 1 },
      { listener: 'Billing.charge', origin: 'remote', ok: true, attempts: 1 },
    ]);
    expect(outcomes.find((o) => o.origin === 'remote')!.durationMs).toBeGreaterThanOrEqual(100);
  });

  it('outcomes of sync, async, failing and retried listeners, local and remote; a remote failure keeps its name and message', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app();
    let tries = 0;
    publisher.bus.registerListener({
      name: 'Local.fails',
      eventName: 'payment.requested',
      onEvent: () => Promise.reject(new TypeError('local boom')),
    });
    receiver.bus.registerListener(
      { name: 'Remote.sync', eventName: 'payment.requested', onEvent: () => undefined },
      { name: 'Remote.async', eventName: 'payment.requested', options: { async: true }, onEvent: async () => undefined },
      {
        name: 'Remote.declines',
        eventName: 'payment.requested',
        onEvent: () => {
          throw new PaymentDeclinedError('card declined for o2');
        },
      },
      {
        name: 'Remote.retried',
        eventName: 'payment.requested',
        options: { retry: { attempts: 3, backoff: { baseMs: 5 } } },
        onEvent: () => {
          if (++tries < 3) throw new Error(`try ${tries}`);
        },
      },
    );
    await subscribed(`${redis.channelPrefix}payment.requested`, 2);

    const handle = publisher.bus.dispatch('payment.requested', { orderId: 'o2' }, { trackRemote: true });
    const { outcomes, errors } = await handle;
    expect(sorted(outcomes).map(({ listener, origin, ok, attempts }) => ({ listener, origin, ok, attempts }))).toEqual([
      { listener: 'Local.fails', origin: 'local', ok: false, attempts: 1 },
      { listener: 'Remote.async', origin: 'remote', ok: true, attempts: 1 },
      { listener: 'Remote.declines', origin: 'remote', ok: false, attempts: 1 },
      { listener: 'Remote.retried', origin: 'remote', ok: true, attempts: 3 },
      { listener: 'Remote.sync', origin: 'remote', ok: true, attempts: 1 },
    ]);
    const remote = errors.find((e) => e.listener === 'Remote.declines')!;
    expect(remote).toBeInstanceOf(EventError);
    expect(remote.handleId).toBe(handle.id);
    expect(remote.cause).toBeInstanceOf(RemoteListenerError);
    expect((remote.cause as RemoteListenerError).remoteName).toBe('PaymentDeclinedError');
    expect((remote.cause as RemoteListenerError).message).toBe('card declined for o2');
    expect((remote.cause as Error).stack).not.toContain('redis-tracking.spec');
    expect(remote.message).toBe("event 'payment.requested' listener 'Remote.declines': card declined for o2");
    // On errors$ and in getErrors() of the publisher too.
    expect(publisher.errors).toContain(remote);
    expect(publisher.bus.getErrors()).toContain(remote);
    expect(errors.map((e) => e.listener).sort()).toEqual(['Local.fails', 'Remote.declines']);
  });

  it('the receiving app may send stacks (tracking.reportStacks)', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app({ tracking: { reportStacks: true } });
    receiver.bus.registerListener({
      name: 'Remote.fails',
      eventName: 'payment.requested',
      onEvent: () => Promise.reject(new Error('with stack')),
    });
    await subscribed(`${redis.channelPrefix}payment.requested`, 1);
    const { errors } = await publisher.bus.dispatch('payment.requested', {}, { trackRemote: true });
    expect((errors[0].cause as Error).stack).toContain('redis-tracking.spec');
  });

  it('counts every copy: the own echo, a channel and a pattern in one process, a wildcard whose exact filter matched nothing', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app();
    const wildcardOnly = await app();
    // The publisher is subscribed too (its own echo is a copy Redis counts).
    const name = 'shop.payment.eu.requested';
    publisher.bus.registerListener({ name: 'Local.exact', eventName: name, onEvent: () => undefined });
    // One process, a channel and a matching pattern: two copies, two reports.
    receiver.bus.registerListener(
      { name: 'Remote.exact', eventName: name, onEvent: () => undefined },
      { name: 'Remote.deep', eventName: 'shop.**', onEvent: () => undefined },
    );
    // Its glob `shop.*.requested` matches the channel (Redis `*` spans dots), its exact filter does
    // not (one segment): a copy with no listener run, reported empty.
    wildcardOnly.bus.registerListener({ name: 'Other.one', eventName: 'shop.*.requested', onEvent: () => undefined });
    await subscribed(`${redis.channelPrefix}${name}`, 2);
    const counter = rawClient(server.url);
    raw.push(counter);
    await until(async () => Number(await counter.call('PUBSUB', 'NUMPAT')) >= 2, 'the two patterns');

    const handle = publisher.bus.dispatch(name, {}, { trackRemote: { timeoutMs: 3_000 } });
    const { outcomes, errors } = await handle;
    expect(errors).toEqual([]);
    expect(sorted(outcomes).map((o) => `${o.origin}:${o.listener}`)).toEqual([
      'local:Local.exact',
      'remote:Remote.deep',
      'remote:Remote.exact',
    ]);
    // Four copies (echo, channel, two patterns) were all answered well before the timeout.
    expect(publisher.runtime['tracking'].inFlight).toBe(0);
    expect(await counter.publish(`${redis.channelPrefix}${name}`, 'x')).toBe(4);
  });

  it('a receiver closed mid-flight ends in a timeout, not a hang', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app({ shutdownTimeoutMs: 50 });
    const held = gate();
    receiver.bus.registerListener({ name: 'Remote.slow', eventName: 'payment.requested', onEvent: () => held.wait });
    await subscribed(`${redis.channelPrefix}payment.requested`, 1);
    const handle = publisher.bus.dispatch('payment.requested', {}, { trackRemote: { timeoutMs: 800 } });
    await until(() => handle.outcomes.length === 0 && receiver.runtime.inflight.count > 0, 'the receiver running the listener');
    await receiver.bus.close();
    held.open();
    const { errors } = await handle;
    expect(errors).toHaveLength(1);
    expect(errors[0].listener).toBe('publisher');
    expect(errors[0].cause).toBeInstanceOf(RemoteTrackingTimeoutError);
    expect((errors[0].cause as RemoteTrackingTimeoutError).expected).toBe(1);
    expect((errors[0].cause as RemoteTrackingTimeoutError).answered).toBe(0);
  });

  it('a raw subscriber never answers: the timeout says how many of how many answered', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app();
    receiver.bus.registerListener({ name: 'Remote.ok', eventName: 'payment.requested', onEvent: () => undefined });
    const sub = await rawSubscriber(server.url, `${redis.channelPrefix}payment.requested`);
    raw.push(sub.client);
    await subscribed(`${redis.channelPrefix}payment.requested`, 2);
    const started = Date.now();
    const { errors, outcomes } = await publisher.bus.dispatch('payment.requested', {}, { trackRemote: { timeoutMs: 400 } });
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    expect(outcomes.map((o) => o.listener)).toEqual(['Remote.ok']);
    expect(errors).toHaveLength(1);
    const cause = errors[0].cause as RemoteTrackingTimeoutError;
    expect(cause).toBeInstanceOf(RemoteTrackingTimeoutError);
    expect([cause.answered, cause.expected]).toEqual([1, 2]);
    expect(cause.message).toContain('1 of 2 receiver(s) reported within 400 ms');
    // The raw subscriber got the envelope with where reports go; goevent ignores the extra field.
    const envelope = JSON.parse(sub.messages[0]) as Record<string, unknown>;
    expect(envelope.reply_to).toBe(`${redis.channelPrefix}__reports:v2:${publisher.runtime.busId}`);
    expect(envelope.event_name).toBe('payment.requested');
  });

  it('a tracked dispatch after earlier ones settled times out at its own deadline, not at one left from them', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app();
    receiver.bus.registerListener({ name: 'Remote.ok', eventName: 'payment.answered', onEvent: () => undefined });
    await subscribed(`${redis.channelPrefix}payment.answered`, 1);
    const sub = await rawSubscriber(server.url, `${redis.channelPrefix}payment.silent`);
    raw.push(sub.client);
    await subscribed(`${redis.channelPrefix}payment.silent`, 1);
    // Answered at once: nothing waits afterwards, while the timeout timer armed for it is still set.
    const first = await publisher.bus.dispatch('payment.answered', {}, { trackRemote: { timeoutMs: 600 } });
    expect(first.errors).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const started = Date.now();
    const { errors } = await publisher.bus.dispatch('payment.silent', {}, { trackRemote: { timeoutMs: 600 } });
    const elapsed = Date.now() - started;
    // The first dispatch's deadline passes ~350 ms into this one: it must not expire this one early.
    expect(elapsed).toBeGreaterThanOrEqual(580);
    expect(elapsed).toBeLessThan(2_000);
    expect(errors.map((e) => e.cause)).toEqual([expect.any(RemoteTrackingTimeoutError)]);
  });

  it('1,000 concurrent tracked dispatches, failures for some ids only: every handle gets exactly its own outcomes', async () => {
    fresh();
    const publisher = await app();
    const a = await app();
    const b = await app();
    const failsOn = (id: number): boolean => id % 7 === 0;
    a.bus.registerListener({
      name: 'A.handle',
      eventName: 'payment.requested',
      onEvent: (event) => {
        if (failsOn((event as { n: number }).n)) throw new Error(`A failed ${(event as { n: number }).n}`);
      },
    });
    b.bus.registerListener({
      name: 'B.handle',
      eventName: 'payment.requested',
      options: { async: true },
      onEvent: async (event) => {
        await new Promise((resolve) => setTimeout(resolve, (event as { n: number }).n % 5));
        if ((event as { n: number }).n % 11 === 0) throw new Error(`B failed ${(event as { n: number }).n}`);
      },
    });
    await subscribed(`${redis.channelPrefix}payment.requested`, 2);
    const handles = Array.from({ length: 1000 }, (_, n) =>
      publisher.bus.dispatch('payment.requested', { n }, { trackRemote: { timeoutMs: 10_000 } }),
    );
    const results = await Promise.all(handles);
    results.forEach((result, n) => {
      expect(sorted(result.outcomes).map((o) => `${o.listener}:${o.ok}`)).toEqual([`A.handle:${!failsOn(n)}`, `B.handle:${n % 11 !== 0}`]);
      const messages = result.errors.map((e) => (e.cause as Error).message).sort();
      expect(messages).toEqual([...(failsOn(n) ? [`A failed ${n}`] : []), ...(n % 11 === 0 ? [`B failed ${n}`] : [])]);
      for (const e of result.errors) expect(e.handleId).toBe(handles[n].id);
    });
    expect(publisher.runtime['tracking'].inFlight).toBe(0);
  });

  it('a burst of tracked copies is answered in messages of at most 100 reports, not one per socket read', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app();
    receiver.bus.registerListener({ name: 'Remote.count', eventName: 'payment.requested', onEvent: () => undefined });
    await subscribed(`${redis.channelPrefix}payment.requested`, 1);
    // Subscribes the publisher's reports channel, which the tap below listens on too.
    await publisher.bus.dispatch('payment.requested', { n: -1 }, { trackRemote: { timeoutMs: 5_000 } });
    const reports = `${redis.channelPrefix}__reports:v2:${publisher.runtime.busId}`;
    const tap = await rawSubscriber(server.url, reports);
    raw.push(tap.client);
    // One tick: one script of 1,000 publishes, which the receiver reads in a few large chunks.
    const handles = Array.from({ length: 1000 }, (_, n) =>
      publisher.bus.dispatch('payment.requested', { n }, { trackRemote: { timeoutMs: 10_000 } }),
    );
    const results = await Promise.all(handles);
    for (const result of results) expect(result.outcomes.map((o) => `${o.origin}:${o.listener}`)).toEqual(['remote:Remote.count']);
    // Compact messages (this bus reads them): `{"v":2,…,"reports":[…]}`.
    const sizes = (): number[] => tap.messages.map((m) => (JSON.parse(m) as { v: number; reports: unknown[] }).reports.length);
    await until(() => sizes().reduce((a, b) => a + b, 0) >= 1000, 'the 1,000 reports seen by the tap');
    expect(sizes().reduce((a, b) => a + b, 0)).toBe(1000);
    expect(Math.max(...sizes())).toBeLessThanOrEqual(100);
  });

  it('a publisher of an older version (reports channel without the v2: mark) is answered with one JSON object per report', async () => {
    fresh();
    const receiver = await app();
    receiver.bus.registerListener({ name: 'Remote.count', eventName: 'payment.requested', onEvent: () => undefined });
    await subscribed(`${redis.channelPrefix}payment.requested`, 1);
    const oldReports = `${redis.channelPrefix}__reports:00000000000000aa`;
    const tap = await rawSubscriber(server.url, oldReports);
    raw.push(tap.client);
    const old = rawClient(server.url);
    raw.push(old);
    const ids = ['00000000000000a1', '00000000000000a2', '00000000000000a3'];
    const envelope = (id: string): string =>
      JSON.stringify({
        event_name: 'payment.requested',
        event_type: 'payment.requested',
        event_data: {},
        handle_id: id,
        timestamp: 1,
        reply_to: oldReports,
        origin: 'an-older-bus',
      });
    const pipeline = old.pipeline();
    for (const id of ids) pipeline.publish(`${redis.channelPrefix}payment.requested`, envelope(id));
    await pipeline.exec();
    const reports = (): Array<Record<string, unknown>> =>
      tap.messages.flatMap((m) => {
        const parsed = JSON.parse(m) as Record<string, unknown> | Array<Record<string, unknown>>;
        return Array.isArray(parsed) ? parsed : [parsed];
      });
    await until(() => reports().length >= 3, 'three reports on the older channel');
    expect(
      reports()
        .map((r) => r.handle_id)
        .sort(),
    ).toEqual(ids);
    for (const report of reports()) {
      expect(report).toEqual({
        v: 1,
        handle_id: expect.any(String),
        event_name: 'payment.requested',
        reporter: receiver.runtime.busId,
        via: `${redis.channelPrefix}payment.requested`,
        outcomes: [{ listener: 'Remote.count', ok: true, attempts: 1, duration_ms: expect.any(Number) }],
      });
    }
  });

  it('forged and malformed reports are counted receive errors and settle nothing', async () => {
    fresh();
    const publisher = await app();
    const receiver = await app();
    const held = gate();
    receiver.bus.registerListener({ name: 'Remote.held', eventName: 'payment.requested', onEvent: () => held.wait });
    await subscribed(`${redis.channelPrefix}payment.requested`, 1);
    const handle = publisher.bus.dispatch('payment.requested', {}, { trackRemote: { timeoutMs: 5_000 } });
    const reports = `${redis.channelPrefix}__reports:v2:${publisher.runtime.busId}`;
    await subscribed(reports, 1);
    await until(() => receiver.runtime.inflight.count > 0, 'the remote listener running');
    const forger = rawClient(server.url);
    raw.push(forger);
    const forged = (over: object): string =>
      JSON.stringify({
        v: 1,
        handle_id: handle.id,
        event_name: 'payment.requested',
        reporter: 'forger',
        via: `${redis.channelPrefix}payment.requested`,
        outcomes: [{ listener: 'Forged.ok', ok: true, attempts: 1, duration_ms: 1 }],
        ...over,
      });
    await forger.publish(reports, 'not json at all');
    await forger.publish(reports, JSON.stringify({ v: 1, handle_id: 'xyz' }));
    await forger.publish(reports, forged({ event_name: 'order.created' }));
    await forger.publish(reports, forged({ via: `${redis.channelPrefix}order.created` }));
    await forger.publish(reports, forged({ handle_id: '0123456789abcdef' })); // no such handle: dropped harmlessly
    // A batch: an empty one is refused as a whole; inside one, each report is checked on its own (a
    // malformed one and one for a subscription the event never reached are refused, settling nothing).
    await forger.publish(reports, '[]');
    await forger.publish(reports, `[${JSON.stringify({ v: 1, handle_id: 'nothex' })},${forged({ via: `${redis.channelPrefix}x.y` })}]`);
    // The compact format: names by index, checked the same way (a bad index, another event's name).
    const compact = (names: string[], list: unknown[]): string => JSON.stringify({ v: 2, reporter: 'forger', names, reports: list });
    const names = ['payment.requested', `${redis.channelPrefix}payment.requested`, 'Forged.ok', 'order.created'];
    await forger.publish(reports, compact(names, [[handle.id, 0, 9, [2, 1, 1]]]));
    await forger.publish(reports, compact(names, [[handle.id, 3, 1, [2, 1, 1]]]));
    await until(() => publisher.errors.length >= 9, 'nine refused reports');
    expect(handle.settled).toBe(false);
    for (const error of publisher.errors) {
      expect(error.listener).toBe('subscriber');
      expect(error.cause).toBeInstanceOf(MessageRejectedError);
      expect((error.cause as MessageRejectedError).channel).toBe(reports);
    }
    expect(publisher.bus.stats().rejectedMessages).toBe(9);
    held.open();
    const { outcomes, errors } = await handle;
    expect(outcomes.map((o) => o.listener)).toEqual(['Remote.held']);
    expect(errors).toEqual([]);
  });

  it('tracked handles in flight are bounded: past tracking.maxInFlight a tracked dispatch fails at once; settled ones free their place', async () => {
    fresh();
    const publisher = await app({ tracking: { maxInFlight: 2 } });
    const receiver = await app();
    const held = gate();
    let ran = 0;
    receiver.bus.registerListener({ name: 'Remote.held', eventName: 'payment.requested', onEvent: () => held.wait });
    publisher.bus.registerListener({ name: 'Local', eventName: 'payment.requested', onEvent: () => void ran++ });
    await subscribed(`${redis.channelPrefix}payment.requested`, 2);
    const first = [
      publisher.bus.dispatch('payment.requested', {}, { trackRemote: true }),
      publisher.bus.dispatch('payment.requested', {}, { trackRemote: true }),
    ];
    const refused = publisher.bus.dispatch('payment.requested', {}, { trackRemote: true });
    expect(refused.settled).toBe(true);
    expect(refused.errors[0].cause).toBeInstanceOf(TrackingLimitError);
    expect(refused.errors[0].message).toContain('tracking.maxInFlight');
    expect(ran).toBe(2);
    // An untracked dispatch is not bounded by it.
    expect(publisher.bus.dispatch('payment.requested', {}).errors).toEqual([]);
    held.open();
    await Promise.all(first);
    const again = await publisher.bus.dispatch('payment.requested', {}, { trackRemote: true });
    expect(again.errors).toEqual([]);
  });

  it('a plain dispatch sends no reply_to and records no outcomes', async () => {
    fresh();
    const publisher = await app();
    const sub = await rawSubscriber(server.url, `${redis.channelPrefix}payment.requested`);
    raw.push(sub.client);
    publisher.bus.registerListener({ name: 'Local', eventName: 'payment.requested', onEvent: () => undefined });
    const result = await publisher.bus.dispatch('payment.requested', {});
    expect(result.outcomes).toEqual([]);
    await until(() => sub.messages.length === 1, 'the raw copy');
    expect(JSON.parse(sub.messages[0])).not.toHaveProperty('reply_to');
  });
});
