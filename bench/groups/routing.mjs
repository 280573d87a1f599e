// Routing at scale: memory driver, listeners registered with bus.registerListener(), next to
// eventemitter2 (wildcard: true, the tree @nestjs/event-emitter runs on) with the same listeners and
// names. See bench/lib/routing-workload.mjs for the patterns and names.
import { fmtNum, fmtRate, fmtRatio } from '../lib/format.mjs';
import { median } from '../lib/harness.mjs';
import { runNode } from '../lib/spawn.mjs';

const SIZES = [10, 100, 1000, 5000];
const bus = (variant, label) => ({ id: `bus-${variant}`, label, file: 'cases/routing-event-bus.mjs', variant });
const ee2 = (variant, label) => ({ id: `ee2-${variant}`, label, file: 'cases/routing-eventemitter2.mjs', variant });
const n = (x) => x.toLocaleString('en-US');

const CASES = [
  ...SIZES.flatMap((size) => [
    bus(`wild:${size}`, `nestjs-event-bus, ${n(size)} wildcard patterns, a new name per event`),
    ee2(`wild:${size}`, `eventemitter2, ${n(size)} wildcard patterns, a new name per event`),
  ]),
  bus('none:5000', 'nestjs-event-bus, 5,000 wildcard patterns, a new name per event that reaches none'),
  ee2('none:5000', 'eventemitter2, 5,000 wildcard patterns, a new name per event that reaches none'),
  bus('exact:10', 'nestjs-event-bus, 10 exact names in rotation'),
  bus('exact:5000', 'nestjs-event-bus, 5,000 exact names in rotation'),
];

/**
 * BENCH_ROUTING_N overrides it (a slow build, measured before a change, needs fewer). 400,000 events
 * time about half a second per sample: with 100,000 (a 100 ms window) one scavenge or a slow JIT tier
 * landing inside the window or not decided the ratio of a round.
 */
const eventsPerSample = (quick) => process.env.BENCH_ROUTING_N ?? (quick ? '5000' : '400000');
const timeOf = (s) => s?.elapsedNs / s?.n;
/** Per round: how many times longer `a` takes than `b` per event. */
const slower = (a, b) => (samples, r) => timeOf(samples.get(a)?.[r]) / timeOf(samples.get(b)?.[r]);
const atMost = (x) => ({ text: `≤ ${x}×`, test: (v) => v <= x });

export const routingGroup = {
  family: 'routing',
  title: 'Routing at scale (memory driver)',
  cases: CASES,
  rounds: 5,
  note: (quick) =>
    `${Number(eventsPerSample(quick)).toLocaleString('en-US')}${quick ? ' (quick)' : ''} events per sample after a warm-up, payload \`{ userId: 'u1', n: i }\`, one listener per ` +
    'pattern or name, each sync. Wildcard patterns: `order.*.created` (which every name `order.<i>.created` ' +
    'reaches) and per-entity ones it does not (`e<k>.*.created`, `order.*.s<k>`, `e<k>.**`, `*.x<k>.created`). ' +
    'A new name per event misses the route cache every time. Exact names rotate over `order.<k>.created`.',
  sample(cse, { quick }) {
    const env = { BENCH_MODE: 'time', BENCH_N: eventsPerSample(quick), BENCH_VARIANT: cse.variant };
    if (quick) env.BENCH_WARMUP_MAX_MS = '50';
    return runNode(cse.file, { env });
  },
  summary: (s) => `${fmtRate(s.opsPerSec)} events/s, ${fmtNum(s.nsPerOp, 0)} ns/event`,
  columns: [
    { title: 'events/s (median)', cell: (list) => fmtRate(median(list.map((s) => s.opsPerSec))) },
    { title: 'ns/event (median)', cell: (list) => fmtNum(median(list.map((s) => s.nsPerOp)), 0) },
    {
      title: 'min–max ns/event',
      cell: (list) => `${fmtNum(Math.min(...list.map((s) => s.nsPerOp)), 0)}–${fmtNum(Math.max(...list.map((s) => s.nsPerOp)), 0)}`,
    },
  ],
  targets: [
    { label: '5,000 wildcard patterns vs 10 (time ratio)', perRound: slower('bus-wild:5000', 'bus-wild:10'), target: atMost(3) },
    ...SIZES.map((size) => ({
      label: `eventemitter2, ${n(size)} wildcard patterns (time ratio)`,
      perRound: slower(`bus-wild:${size}`, `ee2-wild:${size}`),
      target: atMost(1),
    })),
    { label: 'eventemitter2, a name that reaches none of 5,000 patterns (time ratio)', perRound: slower('bus-none:5000', 'ee2-none:5000') },
    { label: '5,000 exact names in rotation vs 10 (time ratio)', perRound: slower('bus-exact:5000', 'bus-exact:10'), target: atMost(3) },
  ],
};
