// This package's redis-streams driver: a sender app dispatches (XADD by the driver), a listener in a
// receiver app (another process, consumer group 'bench:UserListener.handle') handles and acks each.
// Variant: throughput.
import { runEventBusRemote } from '../lib/event-bus-remote.mjs';

runEventBusRemote((env) => ({
  driver: 'redis-streams',
  redis: { url: env.url, channelPrefix: process.env.BENCH_PREFIX },
  streams: { group: 'bench' },
}));
