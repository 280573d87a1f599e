// This package's redis (pub/sub) driver: a sender app dispatches, a listener in a receiver app
// (another process) gets it. Variants: throughput (fire-and-forget dispatch), latency (one at a time).
import { runEventBusRemote } from '../lib/event-bus-remote.mjs';

runEventBusRemote((env) => ({ driver: 'redis', redis: { url: env.url, channelPrefix: process.env.BENCH_PREFIX } }));
