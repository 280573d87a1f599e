// Shared by every in-process case: one process measures one case in one mode and prints one
// result line (`BENCH_RESULT {json}`) that bench/run.mjs collects.
//
// Modes (env BENCH_MODE):
//   time      warm up, then time N events (several passes for a fast case: the median pass); GC time
//             from the `gc` performance entries of those passes, per pass.
//   alloc     bytes allocated per event: gc(), then a batch of events, heapUsed delta; the batch is
//             small enough to fit the young generation (set large by the runner) so no collection
//             runs inside it; median over batches, minus the cost of an empty batch.
//   retained  gc(), heap, 1,000,000 events, settle, gc(), heap: what the events left behind.
import { PerformanceObserver, performance } from 'node:perf_hooks';

const WARMUP_FRACTION = Number(process.env.BENCH_WARMUP ?? 1);
const WARMUP_MAX_MS = Number(process.env.BENCH_WARMUP_MAX_MS ?? 500);
const MIN_TIMED_MS = Number(process.env.BENCH_MIN_TIMED_MS ?? 200);
const MAX_TIMED_REPS = 9;

export const RESULT_PREFIX = 'BENCH_RESULT ';

export function benchEnv() {
  return {
    mode: process.env.BENCH_MODE ?? 'time',
    n: Number(process.env.BENCH_N ?? 200_000),
    variant: process.env.BENCH_VARIANT ?? '',
    batch: Number(process.env.BENCH_ALLOC_BATCH ?? 1000),
    batches: Number(process.env.BENCH_ALLOC_BATCHES ?? 30),
    retainedN: Number(process.env.BENCH_RETAINED_N ?? 1_000_000),
  };
}

export function report(result) {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
}

export const payloadOf = (i) => ({ userId: 'u1', n: i });

/** Lets timers, I/O and microtasks run (a peer's internal queues, our async listeners). */
export const yieldToLoop = () => new Promise((resolve) => setImmediate(resolve));

/**
 * `setup()` returns `{ run(n, from) , settle?(), close?() }`: `run` sends n events (sync or async)
 * numbered from `from`; `settle` waits for everything started to finish; `close` tears down.
 */
export async function runCase(setup) {
  const env = benchEnv();
  let subject;
  try {
    subject = await setup(env);
    const settle = subject.settle ?? (() => undefined);
    let result;
    if (env.mode === 'time') result = await measureTime(subject.run, settle, env.n);
    else if (env.mode === 'alloc') result = await measureAlloc(subject.run, settle, env.batch, env.batches);
    else if (env.mode === 'retained') result = await measureRetained(subject.run, settle, env.retainedN);
    else throw new Error(`unknown BENCH_MODE ${env.mode}`);
    if (subject.check) result.check = subject.check();
    report({ mode: env.mode, ...result });
    await subject.close?.();
  } catch (err) {
    process.stderr.write(`bench case failed: ${err?.stack ?? err}\n`);
    process.exitCode = 1;
  }
  // Peers may leave timers or sockets behind; the measurement is done.
  setImmediate(() => process.exit());
}

async function measureTime(run, settle, n) {
  // Warm up with the same loop until the JIT has settled: N events (WARMUP_FRACTION × N), or
  // WARMUP_MAX_MS for the slow cases, in chunks of at most 10,000.
  const budget = Math.floor(n * WARMUP_FRACTION);
  const warmStart = performance.now();
  let warm = 0;
  while (warm < budget && performance.now() - warmStart < WARMUP_MAX_MS) {
    const chunk = Math.min(10_000, budget - warm);
    await run(chunk, warm);
    warm += chunk;
  }
  await settle();
  await yieldToLoop();

  const gcWindows = [];
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcWindows.push({ start: entry.startTime, duration: entry.duration });
  });
  observer.observe({ entryTypes: ['gc'] });
  // The N events are timed several times over (up to MAX_TIMED_REPS, while under MIN_TIMED_MS in
  // all) and the median taken: one pass of a fast case lasts a few ms, which one hiccup of a busy
  // machine can double; a slow case gets one pass.
  const times = [];
  const t0 = performance.now();
  let from = warm;
  do {
    const h0 = process.hrtime.bigint();
    await run(n, from);
    await settle();
    times.push(Number(process.hrtime.bigint() - h0));
    from += n;
  } while (times.length < MAX_TIMED_REPS && performance.now() - t0 < MIN_TIMED_MS);
  const t1 = performance.now();
  const elapsedNs = median(times);
  // gc entries are delivered asynchronously.
  await yieldToLoop();
  await yieldToLoop();
  observer.disconnect();
  const inWindow = gcWindows.filter((g) => g.start >= t0 && g.start <= t1);
  // Per pass of N events.
  const gcMs = inWindow.reduce((sum, g) => sum + g.duration, 0) / times.length;
  return {
    n,
    elapsedNs,
    opsPerSec: n / (elapsedNs / 1e9),
    nsPerOp: elapsedNs / n,
    gcMs,
    gcCount: inWindow.length / times.length,
    passes: times.length,
  };
}

function needGc() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with --expose-gc');
  return globalThis.gc;
}

async function measureAlloc(run, settle, batch, batches) {
  const gc = needGc();
  let from = 0;
  // Warm up so compiled code (not the interpreter's feedback objects) is measured.
  for (let i = 0; i < 20; i++) {
    await run(batch, from);
    from += batch;
    await settle();
  }
  const deltas = [];
  const baseline = [];
  const noop = () => undefined;
  for (let b = 0; b < batches; b++) {
    gc();
    let h = process.memoryUsage().heapUsed;
    noop(batch, from);
    baseline.push(process.memoryUsage().heapUsed - h);
    gc();
    h = process.memoryUsage().heapUsed;
    const pending = run(batch, from);
    if (pending !== undefined) await pending;
    await settle();
    deltas.push(process.memoryUsage().heapUsed - h);
    from += batch;
  }
  const perEvent = (median(deltas) - median(baseline)) / batch;
  return { bytesPerOp: Math.max(0, perEvent), batch, batches };
}

async function measureRetained(run, settle, total) {
  const gc = needGc();
  const chunk = 10_000;
  // Warm up and let lazily built state (caches, pools) exist before the baseline.
  await run(chunk, 0);
  await settle();
  await yieldToLoop();
  gc();
  gc();
  const base = process.memoryUsage().heapUsed;
  const checkpoints = [];
  let sent = 0;
  let next = total / 4;
  while (sent < total) {
    const pending = run(chunk, chunk + sent);
    if (pending !== undefined) await pending;
    sent += chunk;
    if (sent >= next) {
      next += total / 4;
      await settle();
      await yieldToLoop();
      gc();
      gc();
      checkpoints.push(process.memoryUsage().heapUsed - base);
    }
  }
  return { n: total, retainedBytes: checkpoints[checkpoints.length - 1], checkpoints };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
