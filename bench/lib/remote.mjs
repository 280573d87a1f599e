// Sender/receiver helpers for the Redis cases. Timestamps are process.hrtime (CLOCK_MONOTONIC),
// comparable across processes on one machine.
import { report } from './harness.mjs';

export function remoteEnv() {
  return {
    role: process.env.BENCH_ROLE,
    url: process.env.BENCH_REDIS_URL,
    n: Number(process.env.BENCH_N ?? 100_000),
    channel: process.env.BENCH_CHANNEL ?? 'bench.user.registered',
    variant: process.env.BENCH_VARIANT ?? '',
    warmup: Number(process.env.BENCH_LATENCY_WARMUP ?? 1000),
    /** Round trips a pipelined case makes before it measures (the same for every case). */
    pipelinedWarmup: Number(process.env.BENCH_PIPELINED_WARMUP ?? 10_000),
  };
}

export const now = () => process.hrtime.bigint();

/** CPU time (user + system) this process used, in µs: a measure a busy machine skews less than wall time. */
export const cpuUs = () => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** Tells the runner the receiver is subscribed. */
export function ready() {
  process.stdout.write('READY\n');
}

/**
 * Counts received events; reports when `n` arrived, or what arrived once nothing came for
 * `idleMs` (pub/sub is at-most-once: a shortfall is reported, not waited for forever).
 */
export function receiveCounter(n, { idleMs = 15_000, onDone } = {}) {
  let received = 0;
  let cpuAtFirst = 0;
  let firstNs;
  let lastNs;
  let finished = false;
  let idle;
  const finish = async () => {
    if (finished) return;
    finished = true;
    clearTimeout(idle);
    report({ role: 'receive', received, firstNs: String(firstNs ?? 0n), lastNs: String(lastNs ?? 0n), cpuUs: cpuUs() - cpuAtFirst });
    await onDone?.();
    setImmediate(() => process.exit(0));
  };
  const arm = () => {
    clearTimeout(idle);
    idle = setTimeout(finish, idleMs);
  };
  arm();
  return {
    hit() {
      const t = now();
      if (received === 0) {
        firstNs = t;
        cpuAtFirst = cpuUs();
      }
      received++;
      lastNs = t;
      if ((received & 1023) === 0) arm();
      if (received === n) void finish();
    },
  };
}

/** One-at-a-time latency: record one-way delay of each event, ack it so the sender sends the next. */
export function latencyRecorder(n, warmup, { ack, onDone }) {
  const samples = new Float64Array(n);
  let count = 0;
  let cpuStart = 0;
  return {
    async hit(sentNs) {
      const delay = Number(now() - BigInt(sentNs));
      if (count < warmup + n) {
        if (count === warmup) cpuStart = cpuUs();
        if (count >= warmup) samples[count - warmup] = delay;
        count++;
      }
      await ack();
      if (count === warmup + n) {
        const sorted = Array.from(samples).sort((a, b) => a - b);
        const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] / 1000;
        report({
          role: 'receive',
          received: n,
          p50Us: pct(50),
          p95Us: pct(95),
          p99Us: pct(99),
          meanUs: sorted.reduce((a, b) => a + b, 0) / n / 1000,
          // Receiving, the listener and sending the ack, per event.
          cpuUsPerOp: (cpuUs() - cpuStart) / n,
        });
        await onDone?.();
        setImmediate(() => process.exit(0));
      }
    },
  };
}

/** Call right before the first send: CPU time is counted from there. */
export function startSending() {
  sendCpuStart = cpuUs();
  return now();
}
let sendCpuStart = 0;

export function reportSend(startNs, endNs, extra = {}) {
  report({ role: 'send', startNs: String(startNs), endNs: String(endNs), cpuUs: cpuUs() - sendCpuStart, ...extra });
}

export function fail(err) {
  process.stderr.write(`bench case failed: ${err?.stack ?? err}\n`);
  process.exit(1);
}

/**
 * Sender side of the latency cases: sends `total` events one at a time with `sendOne(i, sentNs)`,
 * each after the receiver acknowledged the previous one on `<channel>:ack` (raw ioredis, the same
 * for every case, and not part of what is measured).
 */
export async function sendOneAtATime(Redis, url, channel, total, sendOne) {
  const sub = new Redis(url);
  let wake;
  sub.on('message', () => wake?.());
  await sub.subscribe(`${channel}:ack`);
  const start = now();
  for (let i = 0; i < total; i++) {
    const acked = new Promise((resolve) => (wake = resolve));
    await sendOne(i, String(now()));
    await acked;
  }
  const end = now();
  sub.disconnect();
  return { start, end };
}
