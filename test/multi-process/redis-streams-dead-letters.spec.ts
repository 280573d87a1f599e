import { describe, expect, it } from 'vitest';
import { bootStreamsApp, freshPrefix, pendingCount, until } from '../support/streams-test-app';
import { seenCounts, StreamsWorker, useWorkerFleet } from '../support/streams-workers';

type Entry = [string, string[]];
const field = (fields: string[], name: string): string | undefined => {
  const i = fields.indexOf(name);
  return i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
};

describe('redis-streams: dead letters across replica processes', () => {
  const fleet = useWorkerFleet();

  it('a poison event goes to the dead-letter stream after maxAttempts while the stream keeps flowing; malformed and oversize entries too, with a reason; replay after the fix handles the poison event', async () => {
    const { server, ledgerServer, redis, ledger, workers } = fleet;
    const prefix = freshPrefix('dlq');
    const key = `${prefix}order.placed`;
    const env = { REDIS_URL: server.url, LEDGER_URL: ledgerServer.url, PREFIX: prefix, BLOCK_MS: '200', MAX_ATTEMPTS: '3', POISON_N: '7' };
    workers.push(...(await Promise.all(['p1', 'p2'].map((replica) => StreamsWorker.start({ ...env, REPLICA: replica })))));
    const sender = (fleet.sender = await bootStreamsApp({}, { url: server.url, prefix }));

    const results = await Promise.all(Array.from({ length: 50 }, (_, n) => sender.bus.dispatch('order.placed', { n })));
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    // Entries nobody can read, appended by hand: not JSON, no envelope, over the 1 MiB default limit.
    await redis.xadd(key, '*', 'envelope', '{"event_name":');
    await redis.xadd(key, '*', 'payload', 'no envelope field');
    const huge = JSON.stringify({
      event_name: 'order.placed',
      event_type: 'order.placed',
      event_data: { pad: 'x'.repeat(1024 * 1024 + 10) },
      handle_id: 'c'.repeat(16),
      timestamp: 1,
    });
    await redis.xadd(key, '*', 'envelope', huge);
    const after = await Promise.all(Array.from({ length: 50 }, (_, i) => sender.bus.dispatch('order.placed', { n: 50 + i })));
    expect(after.every((r) => r.errors.length === 0)).toBe(true);

    // Every good event flows for both listeners (Billing.charge minus the poison one).
    await until(async () => (await ledger.hlen(`${prefix}seen:Mailer.send`)) === 100, 20_000, 'Mailer.send to see every event');
    await until(async () => (await ledger.hlen(`${prefix}seen:Billing.charge`)) === 99, 20_000, 'Billing.charge to see every other event');
    // 1 poison (Billing only) + 3 unreadable entries for each of the 2 groups.
    await until(async () => (await redis.xlen(`${key}:dlq`)) === 7, 20_000, 'seven dead letters');
    const letters = (await redis.xrange(`${key}:dlq`, '-', '+')) as Entry[];
    const poison = letters.filter(([, f]) => field(f, 'reason') === undefined);
    expect(poison).toHaveLength(1);
    const [, pf] = poison[0];
    expect(field(pf, 'listener')).toBe('Billing.charge');
    expect(field(pf, 'attempts')).toBe('3');
    expect(field(pf, 'error')).toBe('cannot charge order 7');
    expect(JSON.parse(field(pf, 'envelope')!)).toMatchObject({ event_name: 'order.placed', event_data: { n: 7 } });
    const reasons = letters
      .filter(([, f]) => field(f, 'reason') !== undefined)
      .map(([, f]) => `${field(f, 'listener')}: ${field(f, 'reason')}`);
    expect(reasons.sort()).toEqual([
      "Billing.charge: entry has no 'envelope' field",
      expect.stringMatching(/^Billing\.charge: malformed JSON/),
      'Billing.charge: over the size limit of 1048576 bytes',
      "Mailer.send: entry has no 'envelope' field",
      expect.stringMatching(/^Mailer\.send: malformed JSON/),
      'Mailer.send: over the size limit of 1048576 bytes',
    ]);
    for (const group of ['svc:Billing.charge', 'svc:Mailer.send']) {
      await until(async () => (await pendingCount(redis, key, group)) === 0, 5000, `${group} acks`);
    }
    expect(workers.every((w) => w.running)).toBe(true);

    // Fix the listener, then replay from a replica process: only Billing.charge sees n=7 again.
    await ledger.set(`${prefix}fixed`, '1');
    const replayer = await StreamsWorker.start({ ...env, REPLICA: 'replayer', REPLAY: '1' });
    expect(await replayer.waitExit()).toBe(0);
    expect(replayer.lines.filter((l) => l.startsWith('replayed '))).toEqual([expect.stringMatching(/ Billing\.charge$/)]);
    // The unreadable entries cannot be replayed and stay.
    expect(replayer.lines.filter((l) => l.startsWith('replay-failed '))).toHaveLength(6);
    expect((await seenCounts(ledger, prefix, 'Billing.charge')).get(7)).toBe(1);
    expect((await seenCounts(ledger, prefix, 'Mailer.send')).get(7)).toBe(1);
    expect(await redis.xlen(`${key}:dlq`)).toBe(6);
  }, 60_000);
});
