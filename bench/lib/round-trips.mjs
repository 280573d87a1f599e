// Sender side of the request/reply cases (a tracked dispatch, a microservices send()): the sender
// itself measures each round trip, or the rate of many in flight.
import { now, reportSend, startSending } from './remote.mjs';

const percentiles = (samples) => {
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] / 1000;
  return { p50Us: pct(50), p95Us: pct(95), p99Us: pct(99) };
};

/** One at a time: `call(i)` resolves when the reply is back; reports p50/p95/p99 of the last `n`. */
export async function roundTripsOneAtATime(warmup, n, call) {
  for (let i = 0; i < warmup; i++) await call(i);
  const samples = new Float64Array(n);
  const start = startSending();
  for (let i = 0; i < n; i++) {
    const t0 = now();
    await call(warmup + i);
    samples[i] = Number(now() - t0);
  }
  reportSend(start, now(), { n, ...percentiles(samples) });
}

/**
 * Pipelined: `window` calls in flight at a time; reports replies per second of the last `n`, after
 * `warmup` calls made the same way (a fast case would otherwise be timed mostly before the JIT
 * optimised it: at 50,000 round trips a third of the tracked case's CPU went to that).
 */
export async function roundTripsPipelined(warmup, n, window, call) {
  const run = async (from, to) => {
    let next = from;
    const lane = async () => {
      while (next < to) await call(next++);
    };
    await Promise.all(Array.from({ length: window }, lane));
  };
  await run(0, warmup);
  const start = startSending();
  await run(warmup, warmup + n);
  const end = now();
  reportSend(start, end, { n, opsPerSec: (n / Number(end - start)) * 1e9 });
}
