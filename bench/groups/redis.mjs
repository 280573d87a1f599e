// Redis groups: sender and receiver in separate processes, against the bench's own redis-server.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fmtNum, fmtRate } from '../lib/format.mjs';
import { median } from '../lib/harness.mjs';
import { require } from '../lib/nest.mjs';
import { runNode } from '../lib/spawn.mjs';

/** The driver is in the dist/ snapshot this run uses. */
const driverBuilt = (file) => () => existsSync(join(dirname(process.env.BENCH_PACKAGE_MAIN), 'drivers', file));

const c = (id, label, file, variant, extra = {}) => ({ id, label, file: `cases/${file}.mjs`, variant, ...extra });

let sampleNo = 0;

/** Starts the receiver, waits until it is subscribed, runs the sender; resolves with both results. */
async function runPair(cse, { env, quick, n }) {
  const { Redis } = require('ioredis');
  const admin = new Redis(env.BENCH_REDIS_URL);
  await admin.flushall();
  admin.disconnect();
  const tag = `${cse.id}-${process.pid}-${sampleNo++}`;
  const common = {
    ...env,
    BENCH_N: String(n),
    BENCH_VARIANT: cse.variant,
    BENCH_CHANNEL: `bench.${tag}`,
    BENCH_PREFIX: `bench-${tag}:`,
    BENCH_LATENCY_WARMUP: quick ? '50' : '1000',
    BENCH_PIPELINED_WARMUP: quick ? '200' : '10000',
  };
  let onReady;
  const isReady = new Promise((resolve) => (onReady = resolve));
  const receiver = runNode(cse.file, {
    env: { ...common, BENCH_ROLE: 'receive' },
    onLine: (line) => line === 'READY' && onReady(),
    timeoutMs: 300_000,
  });
  await Promise.race([isReady, receiver]);
  const sender = runNode(cse.file, { env: { ...common, BENCH_ROLE: 'send' }, timeoutMs: 300_000 });
  const [sent, received] = await Promise.all([sender, receiver]);
  return { n, sent, received };
}

function throughput({ n, sent, received }) {
  const elapsedNs = Number(BigInt(received.lastNs) - BigInt(sent.startNs));
  return {
    n,
    received: received.received,
    elapsedNs,
    opsPerSec: (received.received / elapsedNs) * 1e9,
    sendNs: Number(BigInt(sent.endNs) - BigInt(sent.startNs)),
    sendCpuUsPerOp: sent.cpuUs / n,
    receiveCpuUsPerOp: received.cpuUs / Math.max(1, received.received),
  };
}

const rateColumns = [
  { title: 'events/s end to end (median)', cell: (list) => fmtRate(median(list.map((s) => s.opsPerSec))) },
  {
    title: 'min–max',
    cell: (list) => `${fmtRate(Math.min(...list.map((s) => s.opsPerSec)))}–${fmtRate(Math.max(...list.map((s) => s.opsPerSec)))}`,
  },
  { title: 'sender done after (ms, median)', cell: (list) => fmtNum(median(list.map((s) => s.sendNs / 1e6)), 0) },
  { title: 'sender CPU µs/event', cell: (list) => fmtNum(median(list.map((s) => s.sendCpuUsPerOp)), 1) },
  { title: 'receiver CPU µs/event', cell: (list) => fmtNum(median(list.map((s) => s.receiveCpuUsPerOp)), 1) },
  { title: 'received / sent (worst)', cell: (list) => `${Math.min(...list.map((s) => s.received))} / ${list[0]?.n}` },
];

const rateOf = (s) => s?.opsPerSec;
const faster = (a, b) => (samples, r) => rateOf(samples.get(a)?.[r]) / rateOf(samples.get(b)?.[r]);
/** Per-round ratio of a CPU column (sender or receiver µs/event) of two cases. */
const cpuRatio = (a, b, key) => (samples, r) => samples.get(a)?.[r]?.[key] / samples.get(b)?.[r]?.[key];
const atLeast = (x) => ({ text: `≥ ${x}×`, test: (v) => v >= x });
const atMost = (x) => ({ text: `≤ ${x}×`, test: (v) => v <= x });

const throughputGroup = (fields) => ({
  needsRedis: true,
  family: 'redis',
  rounds: 5,
  sample: async (cse, ctx) => throughput(await runPair(cse, { ...ctx, n: ctx.quick ? 2000 : 100_000 })),
  summary: (s) => `${fmtRate(s.opsPerSec)} events/s, ${s.received}/${s.n} received`,
  columns: rateColumns,
  ...fields,
});

export const redisPubSubGroup = throughputGroup({
  title: 'Redis pub/sub, throughput (sender and receiver in separate processes)',
  note: (quick) =>
    `N = ${quick ? '2,000 (quick)' : '100,000'} events fired without waiting; end to end = from the sender's first send to ` +
    "the receiver's last event (both processes read the same monotonic clock). CPU µs/event: user + system time of " +
    'each process while sending / receiving, divided by N — less skewed by a busy machine than wall time. ' +
    'Pub/sub is at-most-once: a shortfall is shown, not hidden.',
  cases: [
    c(
      'bus-redis',
      'nestjs-event-bus redis driver, dispatch() fire-and-forget → listener in another process',
      'redis-event-bus',
      'throughput',
      {
        available: driverBuilt('redis-pubsub/redis.driver.js'),
        unavailable: 'lib/drivers/redis-pubsub/redis.driver.ts not built',
      },
    ),
    c('raw-publish', 'raw ioredis: un-awaited PUBLISH per event', 'redis-raw', 'publish'),
    c('raw-pipeline', 'raw ioredis: pipeline() of 1000 PUBLISH', 'redis-raw', 'pipeline'),
    c('nest-ms', '@nestjs/microservices Redis transport: ClientProxy.emit → @EventPattern', 'redis-microservices', 'throughput'),
  ],
  targets: [
    { label: 'raw ioredis un-awaited publish (throughput ratio)', perRound: faster('bus-redis', 'raw-publish'), target: atLeast(1.1) },
    { label: 'raw ioredis pipeline() of 1000 (throughput ratio)', perRound: faster('bus-redis', 'raw-pipeline') },
    { label: '@nestjs/microservices Redis (throughput ratio)', perRound: faster('bus-redis', 'nest-ms'), target: atLeast(3.3) },
    {
      label: 'sender CPU µs/event ÷ raw pipeline() of 1000 (lower is better)',
      perRound: cpuRatio('bus-redis', 'raw-pipeline', 'sendCpuUsPerOp'),
    },
    {
      label: 'receiver CPU µs/event ÷ raw pipeline() of 1000 (lower is better)',
      perRound: cpuRatio('bus-redis', 'raw-pipeline', 'receiveCpuUsPerOp'),
    },
  ],
});

export const redisStreamsGroup = throughputGroup({
  title: 'Redis Streams, throughput with acknowledgements',
  note: (quick) => `N = ${quick ? '2,000 (quick)' : '100,000'} events; the receiver acknowledges each (XACK) — end to end as above.`,
  cases: [
    c(
      'bus-streams',
      'nestjs-event-bus redis-streams driver, dispatch() → listener in another process (acked)',
      'streams-event-bus',
      'throughput',
      {
        available: driverBuilt('redis-streams/redis-streams.driver.js'),
        unavailable: 'lib/drivers/redis-streams/redis-streams.driver.ts not built',
      },
    ),
    c('raw-streams', 'raw ioredis: pipelined XADD (1000) → XREADGROUP COUNT 1000 + XACK', 'streams-raw', 'throughput'),
  ],
  targets: [
    { label: 'raw XADD + XREADGROUP/XACK (throughput ratio)', perRound: faster('bus-streams', 'raw-streams'), target: atLeast(0.9) },
    { label: 'sender CPU µs/event ÷ raw (lower is better)', perRound: cpuRatio('bus-streams', 'raw-streams', 'sendCpuUsPerOp') },
    { label: 'receiver CPU µs/event ÷ raw (lower is better)', perRound: cpuRatio('bus-streams', 'raw-streams', 'receiveCpuUsPerOp') },
  ],
});

const pct = (key) => (list) => fmtNum(median(list.map((s) => s[key])), 0);
const latencyRatio = (key) => (samples, r) => samples.get('bus-latency')?.[r]?.[key] / samples.get('raw-latency')?.[r]?.[key];

export const redisLatencyGroup = {
  needsRedis: true,
  family: 'redis',
  rounds: 5,
  title: 'Redis pub/sub, one-at-a-time latency (dispatch → remote listener)',
  note: (quick) =>
    `${quick ? '200 (quick)' : '10,000'} events one at a time after ${quick ? 50 : 1000} warm-up events; each is sent once the ` +
    'receiver acknowledged the previous one (a raw ioredis ack channel, the same for both). Latency = one way, send call to listener call.',
  cases: [
    c('bus-latency', 'nestjs-event-bus redis driver: dispatch() → remote listener', 'redis-event-bus', 'latency', {
      available: driverBuilt('redis-pubsub/redis.driver.js'),
      unavailable: 'lib/drivers/redis-pubsub/redis.driver.ts not built',
    }),
    c('raw-latency', 'raw ioredis: publish → subscribe', 'redis-raw', 'latency'),
  ],
  sample: async (cse, ctx) => {
    const { received } = await runPair(cse, { ...ctx, n: ctx.quick ? 200 : 10_000 });
    return received;
  },
  summary: (s) => `p50 ${fmtNum(s.p50Us, 0)} µs, p99 ${fmtNum(s.p99Us, 0)} µs`,
  columns: [
    { title: 'p50 µs', cell: pct('p50Us') },
    { title: 'p95 µs', cell: pct('p95Us') },
    { title: 'p99 µs', cell: pct('p99Us') },
    { title: 'receiver CPU µs/event (incl. ack)', cell: (list) => fmtNum(median(list.map((s) => s.cpuUsPerOp)), 1) },
    {
      title: 'p99 µs min–max',
      cell: (list) => `${fmtNum(Math.min(...list.map((s) => s.p99Us)), 0)}–${fmtNum(Math.max(...list.map((s) => s.p99Us)), 0)}`,
    },
  ],
  targets: [
    { label: 'raw ioredis p50 (latency ratio; target on the paired measurement below)', perRound: latencyRatio('p50Us') },
    { label: 'raw ioredis p95 (latency ratio)', perRound: latencyRatio('p95Us') },
    { label: 'raw ioredis p99 (latency ratio; target on the paired measurement below)', perRound: latencyRatio('p99Us') },
  ],
};

const median1 =
  (key, digits = 0) =>
  (list) =>
    fmtNum(median(list.map(key)), digits);

/** The streams driver with 1 and 60 listeners in one app (bench/cases/streams-listeners.mjs). */
export const redisStreamsListenersGroup = {
  needsRedis: true,
  family: 'redis',
  rounds: 1,
  title: 'Redis Streams with many listeners: connections, throughput, latency, idle CPU',
  note: (quick) =>
    `One process holds the sender and the receiver app; ${quick ? '5,000 (quick)' : '50,000'} events round robin over ` +
    'min(listeners, 10) event names, each handled by every listener of its name; then one-at-a-time latency to the ' +
    `first listener; then ${quick ? 3 : 10} s with nothing dispatched (CPU time of the app and of redis-server, INFO cpu). ` +
    'CPU figures are CPU time, not utilisation: they hold on a loaded machine.',
  cases: ['1', '60'].map((listeners) =>
    c(`streams-${listeners}-listeners`, `redis-streams, ${listeners} listener${listeners === '1' ? '' : 's'}`, 'streams-listeners', 'all', {
      listeners,
      available: driverBuilt('redis-streams/redis-streams.driver.js'),
      unavailable: 'lib/drivers/redis-streams/redis-streams.driver.ts not built',
    }),
  ),
  sample: async (cse, ctx) =>
    runNode(cse.file, { env: { ...ctx.env, LISTENERS: cse.listeners, ...(ctx.quick ? { BENCH_QUICK: '1' } : {}) }, timeoutMs: 300_000 }),
  summary: (s) =>
    `${s.connections} connections, ${fmtRate(s.throughput.eventsPerSec)} events/s, p50 ${s.latencyMs.p50} ms, idle CPU app ${s.idle.appCpuMs} ms / redis ${s.idle.redisCpuMs} ms`,
  columns: [
    { title: 'connections', cell: median1((s) => s.connections) },
    { title: 'events/s', cell: median1((s) => s.throughput.eventsPerSec) },
    { title: 'deliveries/s', cell: median1((s) => s.throughput.deliveriesPerSec) },
    { title: 'latency p50 ms', cell: median1((s) => s.latencyMs.p50, 2) },
    { title: 'latency p99 ms', cell: median1((s) => s.latencyMs.p99, 2) },
    { title: 'idle app CPU ms', cell: median1((s) => s.idle.appCpuMs) },
    { title: 'idle redis CPU ms', cell: median1((s) => s.idle.redisCpuMs) },
    { title: 'idle redis commands', cell: median1((s) => s.idle.redisCommands) },
  ],
};

const sent = (key) => (list) => fmtNum(median(list.map((s) => s[key])), 0);
const sentRatio = (a, b, key) => (samples, r) => samples.get(a)?.[r]?.[key] / samples.get(b)?.[r]?.[key];

/** Sender-measured cases: the sender reports (the receiver only counts, then exits). */
const roundTripSample = (n) => async (cse, ctx) => {
  if (cse.variant === 'latency') return (await runPair(cse, { ...ctx, n: n(ctx.quick) })).received;
  return (await runPair(cse, { ...ctx, n: n(ctx.quick) })).sent;
};

export const redisTrackingLatencyGroup = {
  needsRedis: true,
  family: 'tracking',
  rounds: 5,
  title: 'Tracking across processes, one at a time: tracked dispatch round trip vs. untracked one way vs. microservices send()',
  note: (quick) =>
    `${quick ? '200 (quick)' : '5,000'} events one at a time after ${quick ? 50 : 1000} warm-up events. Tracked: dispatch(…, { trackRemote: true }) ` +
    'awaited until the remote listener’s report is back (a full round trip, sender-measured). Untracked: one way, send call to the ' +
    'remote listener call (as in the latency group). Microservices: ClientProxy.send() awaited until the reply is back.',
  cases: [
    c('oneway', 'nestjs-event-bus redis: untracked dispatch → remote listener (one way)', 'redis-event-bus', 'latency', {
      available: driverBuilt('redis-pubsub/redis.driver.js'),
      unavailable: 'lib/drivers/redis-pubsub/redis.driver.ts not built',
    }),
    c('tracked-rtt', 'nestjs-event-bus redis: tracked dispatch → remote listener → outcome on the handle', 'redis-tracking', 'rtt', {
      available: driverBuilt('redis-pubsub/redis.driver.js'),
      unavailable: 'lib/drivers/redis-pubsub/redis.driver.ts not built',
    }),
    c('ms-send-rtt', '@nestjs/microservices Redis: ClientProxy.send() → @MessagePattern → reply', 'redis-microservices-send', 'rtt'),
  ],
  sample: roundTripSample((quick) => (quick ? 200 : 5_000)),
  summary: (s) => `p50 ${fmtNum(s.p50Us, 0)} µs, p99 ${fmtNum(s.p99Us, 0)} µs`,
  columns: [
    { title: 'p50 µs', cell: sent('p50Us') },
    { title: 'p95 µs', cell: sent('p95Us') },
    { title: 'p99 µs', cell: sent('p99Us') },
  ],
  targets: [
    {
      label: 'tracked round trip p50 / untracked one-way p50 (target on the paired measurement below)',
      perRound: sentRatio('tracked-rtt', 'oneway', 'p50Us'),
    },
    { label: 'tracked round trip p50 / microservices send() p50', perRound: sentRatio('tracked-rtt', 'ms-send-rtt', 'p50Us') },
    { label: 'tracked round trip p99 / microservices send() p99', perRound: sentRatio('tracked-rtt', 'ms-send-rtt', 'p99Us') },
  ],
};

export const redisTrackingThroughputGroup = {
  needsRedis: true,
  family: 'tracking',
  rounds: 5,
  title: 'Tracking across processes, pipelined: tracked dispatches vs. microservices send(), 256 in flight',
  note: (quick) =>
    `N = ${quick ? '2,000 (quick)' : '50,000'} requests after ${quick ? 200 : '10,000'} warm-up requests, 256 in flight at a time (each lane sends its next once the previous one came back); ` +
    'rate = N / the sender’s time from first timed send to last reply. The untracked throughput is in the pub/sub throughput group.',
  cases: [
    c('tracked-pipelined', 'nestjs-event-bus redis: tracked dispatches, outcomes back on the handles', 'redis-tracking', 'pipelined', {
      available: driverBuilt('redis-pubsub/redis.driver.js'),
      unavailable: 'lib/drivers/redis-pubsub/redis.driver.ts not built',
    }),
    c('ms-send-pipelined', '@nestjs/microservices Redis: ClientProxy.send() → reply', 'redis-microservices-send', 'pipelined'),
  ],
  sample: roundTripSample((quick) => (quick ? 2_000 : 50_000)),
  summary: (s) => `${fmtRate(s.opsPerSec)} round trips/s`,
  columns: [
    { title: 'round trips/s (median)', cell: (list) => fmtRate(median(list.map((s) => s.opsPerSec))) },
    { title: 'sender CPU µs/round trip', cell: (list) => fmtNum(median(list.map((s) => s.cpuUs / s.n)), 1) },
  ],
  targets: [
    {
      label: 'tracked / microservices send() (throughput ratio)',
      perRound: (samples, r) => samples.get('tracked-pipelined')?.[r]?.opsPerSec / samples.get('ms-send-pipelined')?.[r]?.opsPerSec,
      target: atLeast(3),
    },
  ],
};

/**
 * Two latencies in one pair of processes, in alternating blocks of 100 events (bench/cases/
 * redis-latency-paired.mjs): both kinds see the same machine, so their ratio in a round is not the
 * difference between two moments of a shared machine.
 */
const pairedLatencyGroup = ({ family, title, note, id, label, kinds, targets }) => ({
  needsRedis: true,
  family,
  rounds: 5,
  title,
  note,
  cases: [
    c(id, label, 'redis-latency-paired', id, {
      available: driverBuilt('redis-pubsub/redis.driver.js'),
      unavailable: 'lib/drivers/redis-pubsub/redis.driver.ts not built',
    }),
  ],
  sample: async (cse, ctx) => {
    const { sent, received } = await runPair(cse, { ...ctx, n: ctx.quick ? 200 : 10_000 });
    return { ...received, ...sent };
  },
  summary: (s) => kinds.map(([key, name]) => `${name} p50 ${fmtNum(s[key].p50Us, 0)} µs, p99 ${fmtNum(s[key].p99Us, 0)} µs`).join('; '),
  columns: kinds.flatMap(([key, name]) => [
    { title: `${name} p50 µs`, cell: (list) => fmtNum(median(list.map((s) => s[key].p50Us)), 0) },
    { title: `${name} p99 µs`, cell: (list) => fmtNum(median(list.map((s) => s[key].p99Us)), 0) },
  ]),
  targets: targets.map(({ label, of, over, key, target }) => ({
    label,
    perRound: (samples, r) => {
      const s = samples.get(id)?.[r];
      return s?.[of]?.[key] / s?.[over]?.[key];
    },
    target,
  })),
});

export const redisPairedLatencyGroup = pairedLatencyGroup({
  family: 'redis',
  title: 'Redis pub/sub, one-at-a-time latency, paired: the bus and raw ioredis in alternating blocks of one run',
  note: (quick) =>
    `${quick ? '200 (quick)' : '10,000'} events of each kind after ${quick ? 50 : 1000} warm-up events of each, one at a time, ` +
    'in alternating blocks of 100 between the two kinds, in one sender and one receiver process (the receiver has a bus listener ' +
    'and a raw ioredis subscriber). Latency = one way, send call to listener call; each event is sent once the receiver ' +
    'acknowledged the previous one (a raw ioredis ack channel, the same for both).',
  id: 'bus-raw',
  label: 'nestjs-event-bus redis dispatch() → listener, and raw ioredis publish → subscribe, alternating',
  kinds: [
    ['bus', 'bus'],
    ['raw', 'raw'],
  ],
  targets: [
    { label: 'raw ioredis p50 (paired latency ratio)', of: 'bus', over: 'raw', key: 'p50Us', target: atMost(1.05) },
    { label: 'raw ioredis p95 (paired latency ratio)', of: 'bus', over: 'raw', key: 'p95Us' },
    { label: 'raw ioredis p99 (paired latency ratio)', of: 'bus', over: 'raw', key: 'p99Us', target: atMost(1.1) },
  ],
});

export const redisPairedTrackingGroup = pairedLatencyGroup({
  family: 'tracking',
  title: 'Tracking across processes, paired: tracked round trip and untracked one way in alternating blocks of one run',
  note: (quick) =>
    `${quick ? '200 (quick)' : '10,000'} dispatches of each kind after ${quick ? 50 : 1000} warm-up dispatches of each, one at a time, ` +
    'in alternating blocks of 100, one sender and one receiver process. Untracked: one way, send call to listener call (acknowledged ' +
    'as in the latency groups). Tracked: dispatch(…, { trackRemote: true }) awaited until the report is back (sender-measured).',
  id: 'tracked-oneway',
  label: 'nestjs-event-bus redis: tracked round trip, and untracked one way, alternating',
  kinds: [
    ['tracked', 'tracked round trip'],
    ['oneway', 'untracked one way'],
  ],
  targets: [
    { label: 'tracked round trip p50 / untracked one-way p50 (paired)', of: 'tracked', over: 'oneway', key: 'p50Us', target: atMost(2) },
    { label: 'tracked round trip p99 / untracked one-way p99 (paired)', of: 'tracked', over: 'oneway', key: 'p99Us' },
  ],
});
