// Redis Cluster group: sharded pub/sub and streams over many event names on a local 3-master cluster,
// this package next to raw ioredis Cluster clients doing the same commands, and next to the same bus on
// the bench's single node. On a 2-core machine every process (6 nodes' worth of masters, sender,
// receiver) shares the cores: ratios are what this measures, not scaling.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fmtNum, fmtRate } from '../lib/format.mjs';
import { median } from '../lib/harness.mjs';
import { runClusterPair } from '../lib/cluster-pair.mjs';
import { startRedisCluster } from '../lib/redis-cluster-launcher.mjs';

const NAMES = 64;
const built = () => existsSync(join(dirname(process.env.BENCH_PACKAGE_MAIN), 'drivers', 'redis', 'shared', 'key-slot.js'));
const c = (id, label, file, variant, extra = {}) => ({ id, label, file: `cases/${file}.mjs`, variant, ...extra });
const busCase = (id, label, variant) =>
  c(id, label, 'cluster-event-bus', variant, { available: built, unavailable: 'cluster support not built' });

const rateOf = (s) => s?.opsPerSec;
const ratio = (a, b) => (samples, r) => rateOf(samples.get(a)?.[r]) / rateOf(samples.get(b)?.[r]);

/** The group's cluster, started on its first sample and stopped by teardown(). */
const state = { cluster: undefined };

export const clusterGroup = {
  needsRedis: true,
  family: 'cluster',
  title: `Redis Cluster (3 masters), throughput over ${NAMES} event names`,
  rounds: 2,
  note: (quick) =>
    `N = ${quick ? '2,000 (quick)' : '50,000'} events round-robin over ${NAMES} names; sender and receiver in separate processes; ` +
    'end to end as in the Redis groups. Sharded: SPUBLISH → SSUBSCRIBE. Streams: XADD → XREADGROUP + XACK. ' +
    '"single node" = the same bus options on the bench\'s one redis-server. One 2-core machine runs all three masters, ' +
    'the sender and the receiver, so the cluster cannot scale here.',
  cases: [
    busCase('bus-sharded', 'nestjs-event-bus redis driver, sharded: true, on the cluster', 'sharded'),
    c('raw-sharded', 'raw ioredis Cluster: auto-pipelined SPUBLISH → SSUBSCRIBE per name', 'cluster-raw', 'sharded'),
    busCase('bus-sharded-single', 'nestjs-event-bus redis driver, sharded: true, single node', 'single-sharded'),
    busCase('bus-streams', 'nestjs-event-bus redis-streams driver on the cluster (acked)', 'streams'),
    c('raw-streams', 'raw ioredis Cluster: auto-pipelined XADD → XREADGROUP per master + XACK', 'cluster-raw', 'streams'),
    busCase('bus-streams-single', 'nestjs-event-bus redis-streams driver, single node (acked)', 'single-streams'),
  ],
  sample: async (cse, { quick, env }) => {
    state.cluster ??= await startRedisCluster({ masters: 3 });
    const n = quick ? 2000 : 50_000;
    const result = await runClusterPair(cse.file, { cluster: state.cluster, variant: cse.variant, n, names: NAMES, env });
    return { n, received: result.received.received, opsPerSec: result.opsPerSec, errors: result.sent.errors ?? 0 };
  },
  teardown: async () => {
    await state.cluster?.stop();
    state.cluster = undefined;
  },
  summary: (s) => `${fmtRate(s.opsPerSec)} events/s, ${s.received}/${s.n} received`,
  columns: [
    { title: 'events/s end to end (median)', cell: (list) => fmtRate(median(list.map((s) => s.opsPerSec))) },
    {
      title: 'min–max',
      cell: (list) => `${fmtRate(Math.min(...list.map((s) => s.opsPerSec)))}–${fmtRate(Math.max(...list.map((s) => s.opsPerSec)))}`,
    },
    { title: 'received / sent (worst)', cell: (list) => `${Math.min(...list.map((s) => s.received))} / ${list[0]?.n}` },
    { title: 'dispatch errors', cell: (list) => fmtNum(Math.max(...list.map((s) => s.errors)), 0) },
  ],
  targets: [
    {
      label: 'sharded pub/sub: bus ÷ raw ioredis Cluster',
      perRound: ratio('bus-sharded', 'raw-sharded'),
      target: { text: '≥ 0.8×', test: (v) => v >= 0.8 },
    },
    {
      label: 'streams: bus ÷ raw ioredis Cluster',
      perRound: ratio('bus-streams', 'raw-streams'),
      target: { text: '≥ 0.8×', test: (v) => v >= 0.8 },
    },
    { label: 'sharded pub/sub: cluster ÷ single node (same bus)', perRound: ratio('bus-sharded', 'bus-sharded-single') },
    { label: 'streams: cluster ÷ single node (same bus)', perRound: ratio('bus-streams', 'bus-streams-single') },
  ],
};
