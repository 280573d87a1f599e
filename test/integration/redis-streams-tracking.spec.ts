import { EventError, RemoteListenerError, RemoteTrackingTimeoutError } from 'nestjs-event-bus';
import type { EventBus, EventBusModuleOptions, ListenerOutcome } from 'nestjs-event-bus';
import type { BusRuntime } from '../../lib/core/bus-runtime';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';
import { rawClient } from '../support/redis-test-app';
import { readyStandaloneBus } from '../support/standalone-bus';
import { freshPrefix } from '../support/streams-test-app';

let server: RedisServer;
const open: EventBus[] = [];

beforeAll(async () => {
  server = await RedisServer.start();
});
afterAll(async () => {
  await server?.stop();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((bus) => bus.close()));
});

function byListener(outcomes: readonly ListenerOutcome[]): ListenerOutcome[] {
  return [...outcomes].sort((a, b) => a.listener.localeCompare(b.listener));
}

describe('tracking a dispatch across processes, redis-streams', () => {
  async function service(
    prefix: string,
    group: string | undefined,
    extra: Partial<EventBusModuleOptions> = {},
  ): Promise<{ bus: EventBus; runtime: BusRuntime }> {
    const made = await readyStandaloneBus({
      driver: 'redis-streams',
      redis: { url: server.url, channelPrefix: prefix },
      streams: { blockMs: 100, ...(group !== undefined ? { group } : {}), maxAttempts: 3 },
      ...extra,
    });
    open.push(made.bus);
    return made;
  }

  it('two groups report once each, after their retries (attempts counted) or after dead-lettering (last error)', async () => {
    const prefix = freshPrefix('trks');
    const publisher = await service(prefix, undefined);
    const billing = await service(prefix, 'billing');
    const audit = await service(prefix, 'audit');
    let tries = 0;
    billing.bus.registerListener({
      name: 'Billing.charge',
      eventName: 'payment.requested',
      options: { retry: { attempts: 3, backoff: { baseMs: 10, maxMs: 20 } } },
      onEvent: () => {
        if (++tries < 3) throw new Error(`declined ${tries}`);
      },
    });
    audit.bus.registerListener({
      name: 'Audit.log',
      eventName: 'payment.requested',
      options: { retry: { attempts: 2, backoff: { baseMs: 10, maxMs: 20 } } },
      onEvent: () => {
        throw new TypeError('audit store down');
      },
    });
    await billing.runtime.subscriptionsSettled();
    await audit.runtime.subscriptionsSettled();

    const handle = publisher.bus.dispatch('payment.requested', { orderId: 'o1' }, { trackRemote: { timeoutMs: 8_000 } });
    const { outcomes, errors } = await handle;
    expect(byListener(outcomes).map(({ listener, origin, ok, attempts }) => ({ listener, origin, ok, attempts }))).toEqual([
      { listener: 'audit:Audit.log', origin: 'remote', ok: false, attempts: 2 },
      { listener: 'billing:Billing.charge', origin: 'remote', ok: true, attempts: 3 },
    ]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(EventError);
    expect(errors[0].listener).toBe('audit:Audit.log');
    expect(errors[0].handleId).toBe(handle.id);
    const cause = errors[0].cause as RemoteListenerError;
    expect(cause).toBeInstanceOf(RemoteListenerError);
    expect([cause.remoteName, cause.message]).toEqual(['TypeError', 'audit store down']);
    expect(publisher.bus.getErrors()).toContain(errors[0]);
  });

  it('a group with no live consumer is named in the timeout; the groups that answered are on the handle', async () => {
    const prefix = freshPrefix('trks');
    const publisher = await service(prefix, undefined);
    const billing = await service(prefix, 'billing');
    billing.bus.registerListener({ name: 'Billing.charge', eventName: 'payment.requested', onEvent: () => undefined });
    await billing.runtime.subscriptionsSettled();
    // A group whose service is down: it exists on the stream, nobody reads it.
    const client = rawClient(server.url);
    await client.call('XGROUP', 'CREATE', `${prefix}payment.requested`, 'shipping:Shipping.reserve', '$', 'MKSTREAM');
    await client.quit();

    const { outcomes, errors } = await publisher.bus.dispatch('payment.requested', {}, { trackRemote: { timeoutMs: 600 } });
    expect(outcomes.map((o) => `${o.listener}:${o.ok}`)).toEqual(['billing:Billing.charge:true']);
    expect(errors).toHaveLength(1);
    expect(errors[0].listener).toBe('publisher');
    const cause = errors[0].cause as RemoteTrackingTimeoutError;
    expect(cause).toBeInstanceOf(RemoteTrackingTimeoutError);
    expect([cause.answered, cause.expected, cause.missing]).toEqual([1, 2, ['shipping:Shipping.reserve']]);
    expect(cause.message).toContain("no report from 'shipping:Shipping.reserve'");
  });

  it('a group this bus creates is expected by its next tracked append at once (the cached group list is not stale for it)', async () => {
    const prefix = freshPrefix('trks');
    const svc = await service(prefix, 'svc');
    svc.bus.registerListener({ name: 'First.handle', eventName: 'order.placed', onEvent: () => undefined });
    await svc.runtime.subscriptionsSettled();
    // Reads the stream's groups and caches them (fresh for a second).
    const first = await svc.bus.dispatch('order.placed', {}, { trackRemote: { timeoutMs: 5_000 } });
    expect(first.outcomes.map((o) => o.listener)).toEqual(['svc:First.handle']);
    svc.bus.registerListener({ name: 'Second.handle', eventName: 'order.placed', onEvent: () => undefined });
    await svc.runtime.subscriptionsSettled();
    const { outcomes, errors } = await svc.bus.dispatch('order.placed', {}, { trackRemote: { timeoutMs: 5_000 } });
    expect(errors).toEqual([]);
    expect(outcomes.map((o) => o.listener).sort()).toEqual(['svc:First.handle', 'svc:Second.handle']);
    expect(svc.bus.stats().rejectedMessages).toBe(0);
  });

  it('a stream with no group settles at the append; an untracked append carries no reply_to', async () => {
    const prefix = freshPrefix('trks');
    const publisher = await service(prefix, undefined);
    const tracked = await publisher.bus.dispatch('nobody.listens', {}, { trackRemote: true });
    expect(tracked.errors).toEqual([]);
    expect(tracked.outcomes).toEqual([]);
    await publisher.bus.dispatch('nobody.listens', {});
    const client = rawClient(server.url);
    const entries = (await client.xrange(`${prefix}nobody.listens`, '-', '+')) as Array<[string, string[]]>;
    await client.quit();
    const envelopes = entries.map(
      ([, fields]) => JSON.parse(fields[fields.indexOf('envelope') + 1] ?? fields[1]) as Record<string, unknown>,
    );
    expect(envelopes[0].reply_to).toBe(`${prefix}__reports:v2:${publisher.runtime.busId}`);
    expect(envelopes[1]).not.toHaveProperty('reply_to');
  });
});
