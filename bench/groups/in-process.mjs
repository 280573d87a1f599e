// In-process group: memory driver vs node:events, eventemitter2, @nestjs/event-emitter, @nestjs/cqrs.
import { fmtBytes, fmtNum, fmtRate, fmtRatio } from '../lib/format.mjs';
import { median } from '../lib/harness.mjs';
import { runNode } from '../lib/spawn.mjs';

const c = (id, label, file, variant, extra = {}) => ({ id, label, file: `cases/${file}.mjs`, variant, ...extra });

const CASES = [
  c('bus-ff1', 'nestjs-event-bus dispatch, 1 sync listener (fire-and-forget)', 'event-bus', 'ff1', { floor: 'node-l1', retained: true }),
  c('bus-ff1-kept', 'nestjs-event-bus dispatch, 1 sync listener, every handle kept', 'event-bus', 'ff1kept', { floor: 'node-l1' }),
  c('bus-ff1-recorder', 'nestjs-event-bus dispatch, 1 sync listener, after bus.record().stop()', 'event-bus', 'ff1recorded', {
    floor: 'node-l1',
  }),
  c('bus-ff10', 'nestjs-event-bus dispatch, 10 sync listeners (fire-and-forget)', 'event-bus', 'ff10', { floor: 'node-l10' }),
  c('bus-awaited1', 'nestjs-event-bus await dispatch(), 1 async listener', 'event-bus', 'awaited1', { retained: true }),
  c('bus-awaited1fn', 'nestjs-event-bus await dispatch(), 1 async listener that is an async method', 'event-bus', 'awaited1fn'),
  c('bus-batch1', 'nestjs-event-bus 1000 × dispatch() then await bus.wait(), 1 async listener', 'event-bus', 'batch1', { retained: true }),
  c('board-none', 'nestjs-event-bus in an Express app, no event board (baseline of the two below)', 'event-board', 'none', {
    floor: 'node-l1',
  }),
  c('board-unwatched', 'nestjs-event-bus with EventBoardModule mounted, no page open', 'event-board', 'unwatched', { floor: 'node-l1' }),
  c('board-watched', 'nestjs-event-bus with EventBoardModule mounted and a page open (polling)', 'event-board', 'watched', {
    floor: 'node-l1',
  }),
  c('node-l1', 'node:events emit, 1 listener (floor)', 'node-events', 'l1', { floor: 'node-l1', retained: true }),
  c('node-l10', 'node:events emit, 10 listeners (floor)', 'node-events', 'l10', { floor: 'node-l10' }),
  c('ee2-emit1', 'eventemitter2 emit, 1 listener', 'eventemitter2', 'emit1', { floor: 'node-l1' }),
  c('ee2-emit10', 'eventemitter2 emit, 10 listeners', 'eventemitter2', 'emit10', { floor: 'node-l10' }),
  c('ee2-async1', 'eventemitter2 await emitAsync, 1 listener', 'eventemitter2', 'emitAsync1'),
  c('nee-emit1', '@nestjs/event-emitter emit, 1 listener', 'nest-event-emitter', 'emit1', { floor: 'node-l1' }),
  c('nee-emit10', '@nestjs/event-emitter emit, 10 listeners', 'nest-event-emitter', 'emit10', { floor: 'node-l10' }),
  c('nee-async1', '@nestjs/event-emitter await emitAsync, 1 listener', 'nest-event-emitter', 'emitAsync1'),
  c('nee-async1fn', '@nestjs/event-emitter await emitAsync, 1 listener that is an async method', 'nest-event-emitter', 'emitAsync1fn'),
  c('cqrs1', '@nestjs/cqrs EventBus.publish, 1 handler (yield every 1000)', 'nest-cqrs', 'publish1', { floor: 'node-l1' }),
];

const growth = (s) => {
  const points = s?.retainedCheckpoints;
  return points?.length > 1 ? points[points.length - 1] - points[0] : Number.NaN;
};
const timeOf = (s) => s?.elapsedNs / s?.n;
/** Per round: how many times longer `a` takes than `b` per event. */
const slower = (a, b) => (samples, r) => timeOf(samples.get(a)?.[r]) / timeOf(samples.get(b)?.[r]);
/** Per round: how many times faster `a` is than `b`. */
const faster = (a, b) => (samples, r) => timeOf(samples.get(b)?.[r]) / timeOf(samples.get(a)?.[r]);
const atMost = (x) => ({ text: `≤ ${x}×`, test: (v) => v <= x });
const atLeast = (x) => ({ text: `≥ ${x}×`, test: (v) => v >= x });

export const inProcessGroup = {
  family: 'in-process',
  title: 'In-process (memory driver)',
  cases: CASES,
  note: (quick) =>
    `N = ${quick ? '5,000 (quick)' : '200,000'} events, payload \`{ userId: 'u1', n: i }\`, one fresh process per sample, timed in up to 9 passes of N ` +
    '(while the passes take under 200 ms in all: a slow case gets one) and the median pass taken; ' +
    'time includes letting async work finish. bytes/event: heap growth per event with no GC inside the batch ' +
    '(young generation enlarged, median of batches of 1000); retained: heap after ' +
    `${quick ? '20,000' : '1,000,000'} events minus heap before, both after full GCs.`,
  sample(cse, { quick }) {
    const env = { BENCH_MODE: 'time', BENCH_N: String(quick ? 5000 : 200_000), BENCH_VARIANT: cse.variant };
    // Quick mode only proves the case runs: a short warm-up.
    if (quick) env.BENCH_WARMUP_MAX_MS = '50';
    return runNode(cse.file, { env });
  },
  summary: (s) => `${fmtRate(s.opsPerSec)} events/s, gc ${fmtNum(s.gcMs, 1)} ms`,
  async once(cse, { quick }) {
    const flags = ['--expose-gc', '--min-semi-space-size=32', '--max-semi-space-size=32'];
    const alloc = await runNode(cse.file, {
      env: { BENCH_MODE: 'alloc', BENCH_VARIANT: cse.variant, BENCH_ALLOC_BATCHES: quick ? '5' : '30' },
      flags,
    });
    const extra = { bytesPerOp: alloc.bytesPerOp };
    if (cse.retained) {
      const retained = await runNode(cse.file, {
        env: { BENCH_MODE: 'retained', BENCH_VARIANT: cse.variant, BENCH_RETAINED_N: quick ? '20000' : '1000000' },
        flags: ['--expose-gc'],
      });
      extra.retainedBytes = retained.retainedBytes;
      extra.retainedCheckpoints = retained.checkpoints;
    }
    return extra;
  },
  columns: [
    { title: 'events/s (median)', cell: (list) => fmtRate(median(list.map((s) => s.opsPerSec))) },
    {
      title: 'min–max',
      cell: (list) => `${fmtRate(Math.min(...list.map((s) => s.opsPerSec)))}–${fmtRate(Math.max(...list.map((s) => s.opsPerSec)))}`,
    },
    { title: 'ns/event', cell: (list) => fmtNum(median(list.map((s) => s.nsPerOp)), 0) },
    {
      title: '× floor (time)',
      cell: (list, cse, samples) => {
        if (!cse.floor || !samples.has(cse.floor)) return '';
        const floor = samples.get(cse.floor);
        const ratios = [];
        for (let r = 0; r < floor.length; r++) {
          const own = samples.get(cse.id)[r];
          if (own && floor[r]) ratios.push(timeOf(own) / timeOf(floor[r]));
        }
        return ratios.length ? fmtRatio(median(ratios)) : '';
      },
    },
    { title: 'GC ms (median)', cell: (list) => fmtNum(median(list.map((s) => s.gcMs)), 1) },
    { title: 'bytes/event', cell: (list) => fmtNum(list[0]?.bytesPerOp, 0) },
    {
      title: 'retained after all events (checkpoints)',
      cell: (list) =>
        list[0]?.retainedCheckpoints ? `${fmtBytes(list[0].retainedBytes)} (${list[0].retainedCheckpoints.map(fmtBytes).join(', ')})` : '',
    },
  ],
  targets: [
    { label: 'node:events, 1 listener (time ratio)', perRound: slower('bus-ff1', 'node-l1'), target: atMost(2) },
    { label: 'node:events, 10 listeners (time ratio)', perRound: slower('bus-ff10', 'node-l10'), target: atMost(1.5) },
    {
      label: 'no recorder active (after record().stop()) vs never recorded (time ratio)',
      perRound: slower('bus-ff1-recorder', 'bus-ff1'),
      target: atMost(1.1),
    },
    { label: 'eventemitter2 emit, 1 listener (speed-up)', perRound: faster('bus-ff1', 'ee2-emit1') },
    { label: 'eventemitter2 emit, 10 listeners (speed-up)', perRound: faster('bus-ff10', 'ee2-emit10') },
    { label: '@nestjs/event-emitter emit, 1 listener (speed-up)', perRound: faster('bus-ff1', 'nee-emit1'), target: atLeast(20) },
    { label: '@nestjs/event-emitter emit, 10 listeners (speed-up)', perRound: faster('bus-ff10', 'nee-emit10') },
    { label: '@nestjs/cqrs publish (speed-up)', perRound: faster('bus-ff1', 'cqrs1') },
    { label: 'await: eventemitter2 await emitAsync (speed-up)', perRound: faster('bus-awaited1', 'ee2-async1') },
    {
      label: 'await: @nestjs/event-emitter await emitAsync (speed-up)',
      // Unpaired: the two cases run in separate processes; the target sits on the paired group's row.
      perRound: faster('bus-awaited1', 'nee-async1'),
    },
    {
      label: 'await, async-method listeners: @nestjs/event-emitter await emitAsync (speed-up)',
      perRound: faster('bus-awaited1fn', 'nee-async1fn'),
    },
    { label: 'batch + wait(): @nestjs/event-emitter await emitAsync (speed-up)', perRound: faster('bus-batch1', 'nee-async1') },
    {
      label: 'bytes allocated per fire-and-forget dispatch, 1 listener',
      perRound: (samples) => samples.get('bus-ff1')?.[0]?.bytesPerOp,
      fmt: (v) => `${v.toFixed(0)} B`,
      target: { text: '≤ 150 B', test: (v) => v <= 150 },
    },
    {
      // The payload object (40 B) included: what a dispatch costs when V8 cannot drop the handle.
      label: 'bytes allocated per dispatch, 1 listener, handle kept',
      perRound: (samples) => samples.get('bus-ff1-kept')?.[0]?.bytesPerOp,
      fmt: (v) => `${v.toFixed(0)} B`,
      target: { text: '≤ 150 B', test: (v) => v <= 150 },
    },
    {
      // Flat: heap growth from the first checkpoint to the last is noise (compiled code, caches), not
      // a function of the number of events. One leaked 16-byte object per event would be 11 MiB.
      label: 'retained heap growth, first to last checkpoint (largest of fire-and-forget, await, batch)',
      perRound: (samples) => Math.max(...['bus-ff1', 'bus-awaited1', 'bus-batch1'].map((id) => growth(samples.get(id)?.[0]))),
      fmt: fmtBytes,
      target: { text: 'flat (< 1 MiB)', test: (v) => v < 2 ** 20 },
    },
  ],
};

const paired = (variant, label) => ({ id: `paired-${variant}`, label, file: 'cases/awaited-paired.mjs', variant });
/** Per round: the sample's own bus ÷ emitter speed-up, measured pass by pass inside one process. */
const pairedSpeedUp = (id) => (samples, r) => samples.get(id)?.[r]?.speedUp;

export const inProcessPairedGroup = {
  family: 'in-process',
  title: 'In-process awaited dispatch, paired: the bus and @nestjs/event-emitter in alternating passes of one process',
  cases: [
    paired('plain', 'await dispatch() vs await emitAsync(), 1 listener, a plain method'),
    paired('async-method', 'await dispatch() vs await emitAsync(), 1 listener, an async method'),
    paired('done', 'await dispatch().done vs await emitAsync(), 1 listener, a plain method'),
  ],
  rounds: 5,
  note: (quick) =>
    `One process boots both apps (memory driver; EventEmitterModule) and times them in ${quick ? '3' : '9'} alternating passes of ` +
    `${quick ? '5,000 (quick)' : '100,000'} sequential awaited events each after a warm-up; the speed-up of a sample is the median ` +
    'of its per-pass ratios. Two processes a second apart on a shared machine can run the same loop at speeds a factor ' +
    'of two apart, which decides the unpaired ratio above more than the libraries do.',
  sample(cse, { quick }) {
    const env = { BENCH_VARIANT: cse.variant };
    if (quick) Object.assign(env, { BENCH_N: '5000', BENCH_PASSES: '3', BENCH_WARMUP_MAX_MS: '50' });
    return runNode(cse.file, { env });
  },
  summary: (s) => `bus ${fmtNum(s.busNsPerOp, 0)} ns, emitter ${fmtNum(s.emitterNsPerOp, 0)} ns, ${fmtRatio(s.speedUp)}`,
  columns: [
    { title: 'bus ns/event (median)', cell: (list) => fmtNum(median(list.map((s) => s.busNsPerOp)), 0) },
    { title: '@nestjs/event-emitter ns/event (median)', cell: (list) => fmtNum(median(list.map((s) => s.emitterNsPerOp)), 0) },
    {
      title: 'speed-up (median, min–max)',
      cell: (list) => {
        const ups = list.map((s) => s.speedUp);
        return `${fmtRatio(median(ups))} (${fmtRatio(Math.min(...ups))}–${fmtRatio(Math.max(...ups))})`;
      },
    },
  ],
  targets: [
    {
      label: 'await: @nestjs/event-emitter await emitAsync, plain-method listeners (paired speed-up)',
      perRound: pairedSpeedUp('paired-plain'),
      target: atLeast(1.3),
    },
    { label: 'await, async-method listeners (paired speed-up)', perRound: pairedSpeedUp('paired-async-method') },
    { label: 'await dispatch().done, plain-method listeners (paired speed-up)', perRound: pairedSpeedUp('paired-done') },
  ],
};
