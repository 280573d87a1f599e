// Runs one sender/receiver pair of a cluster case (bench/cases/cluster-*.mjs) against the bench's cluster:
// flushes every master, starts the receiver, waits for READY, runs the sender; resolves with both results.
import { runNode } from './spawn.mjs';

let sampleNo = 0;

export async function runClusterPair(file, { cluster, variant, n, names = 64, env = {} }) {
  await cluster.flushAll();
  const tag = `${variant}-${process.pid}-${sampleNo++}`;
  const common = {
    ...env,
    ...cluster.env,
    BENCH_N: String(n),
    BENCH_VARIANT: variant,
    BENCH_NAMES: String(names),
    BENCH_PREFIX: `bench-${tag}:`,
  };
  let onReady;
  const isReady = new Promise((resolve) => (onReady = resolve));
  const receiver = runNode(file, {
    env: { ...common, BENCH_ROLE: 'receive' },
    onLine: (line) => line === 'READY' && onReady(),
    timeoutMs: 300_000,
  });
  await Promise.race([isReady, receiver]);
  const sender = runNode(file, { env: { ...common, BENCH_ROLE: 'send' }, timeoutMs: 300_000 });
  const [sent, received] = await Promise.all([sender, receiver]);
  const elapsedNs = Number(BigInt(received.lastNs) - BigInt(sent.startNs));
  return { n, sent, received, opsPerSec: (received.received / elapsedNs) * 1e9 };
}
