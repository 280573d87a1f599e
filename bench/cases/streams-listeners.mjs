// The redis-streams driver with many listeners in one app: how many connections it opens, the
// throughput and one-at-a-time latency with 1 and 60 listeners, and the CPU time the app and
// redis-server spend over 10 s with 60 idle listeners. One process holds the sender and the
// receiver app (the receiver's reads are what this measures); redis-server is started here.
// Usage: node bench/cases/streams-listeners.mjs            (BENCH_QUICK=1: fewer events, 3 s idle)
//        BENCH_PACKAGE_MAIN=<other dist/index.js> ...        (compare with another build)
// Prints one JSON line per listener count.
import { eventBusPackage, require } from '../lib/nest.mjs';
import { RESULT_PREFIX } from '../lib/harness.mjs';
import { startRedis } from '../lib/redis-launcher.mjs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule } = eventBusPackage();
const { Redis } = require('ioredis');
const quick = process.env.BENCH_QUICK === '1';
const EVENTS = quick ? 5_000 : 50_000;
const PINGS = quick ? 100 : 500;
const IDLE_MS = quick ? 3_000 : 10_000;

async function app(url, prefix, withGroup) {
  class AppModule {}
  Module({
    imports: [
      EventBusModule.forRoot({
        driver: 'redis-streams',
        redis: { url, channelPrefix: prefix },
        ...(withGroup ? { streams: { group: 'bench' } } : {}),
      }),
    ],
  })(AppModule);
  const context = await NestFactory.createApplicationContext(AppModule, { logger: false });
  return { context, bus: context.get(EventBus) };
}

const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))];

async function redisCpuSeconds(redis) {
  const info = String(await redis.info('cpu'));
  const field = (name) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)?.[1] ?? 0);
  return field('used_cpu_sys') + field('used_cpu_user');
}

async function connections(redis) {
  return String(await redis.call('CLIENT', 'LIST'))
    .split('\n')
    .filter((line) => / name=nestjs-event-bus:streams/.test(line)).length;
}

async function until(check, what, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function run(server, listeners) {
  const redis = new Redis(server.url);
  const prefix = `bench-${listeners}-${Date.now()}:`;
  const names = Array.from({ length: Math.min(listeners, 10) }, (_, i) => `bench.event${i}`);
  const receiver = await app(server.url, prefix, true);
  let delivered = 0;
  let pinged;
  for (let i = 0; i < listeners; i++) {
    receiver.bus.registerListener({
      eventName: names[i % names.length],
      name: `Listener${i}`,
      onEvent: (event) => {
        delivered++;
        if (i === 0 && event.sentNs !== undefined) pinged?.(event.sentNs);
      },
    });
  }
  // Programmatic listeners subscribe in the background: wait for every group.
  for (;;) {
    const groups = await Promise.all(names.map((n) => redis.call('XINFO', 'GROUPS', prefix + n).catch(() => [])));
    if (groups.reduce((sum, g) => sum + g.length, 0) === listeners) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const sender = await app(server.url, prefix, false);
  const result = { listeners, names: names.length };

  // Throughput: EVENTS dispatched round robin over the names; every listener of a name handles each.
  const perEvent = listeners / names.length;
  const cpu0 = process.cpuUsage();
  const redis0 = await redisCpuSeconds(redis);
  const start = performance.now();
  for (let i = 0; i < EVENTS; i++) sender.bus.dispatch(names[i % names.length], { n: i });
  await until(() => delivered >= EVENTS * perEvent, 'every delivery');
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  result.throughput = {
    events: EVENTS,
    eventsPerSec: Math.round(EVENTS / seconds),
    deliveriesPerSec: Math.round((EVENTS * perEvent) / seconds),
    appCpuMs: Math.round((cpu.user + cpu.system) / 1000),
    redisCpuMs: Math.round(((await redisCpuSeconds(redis)) - redis0) * 1000),
  };

  // The receiver app's connections: every one but the sender's command connection (its readers
  // are open by now: a group is created before its reader connects).
  result.connections = (await connections(redis)) - 1;

  // Latency: one event at a time to the first name, timed until its first listener has it.
  await new Promise((r) => setTimeout(r, 500));
  const latencies = [];
  for (let i = 0; i < PINGS; i++) {
    const got = new Promise((resolve) => (pinged = resolve));
    const sentNs = Number(process.hrtime.bigint());
    sender.bus.dispatch(names[0], { sentNs });
    await got;
    latencies.push((Number(process.hrtime.bigint()) - sentNs) / 1e6);
  }
  result.latencyMs = { p50: +percentile(latencies, 50).toFixed(2), p99: +percentile(latencies, 99).toFixed(2) };

  // Idle: nothing dispatched; CPU time of this process and of redis-server.
  await new Promise((r) => setTimeout(r, 1000));
  const idleCpu0 = process.cpuUsage();
  const idleRedis0 = await redisCpuSeconds(redis);
  const commands0 = Number(/total_commands_processed:(\d+)/.exec(String(await redis.info('stats')))?.[1]);
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idleCpu = process.cpuUsage(idleCpu0);
  const commands1 = Number(/total_commands_processed:(\d+)/.exec(String(await redis.info('stats')))?.[1]);
  result.idle = {
    seconds: IDLE_MS / 1000,
    appCpuMs: Math.round((idleCpu.user + idleCpu.system) / 1000),
    redisCpuMs: Math.round(((await redisCpuSeconds(redis)) - idleRedis0) * 1000),
    // Minus the INFO calls of this measurement.
    redisCommands: commands1 - commands0 - 2,
  };

  await sender.context.close();
  await receiver.context.close();
  redis.disconnect();
  return result;
}

// Under `npm run bench` the runner's redis-server (BENCH_REDIS_URL) and one listener count per
// process (LISTENERS), reported on a RESULT line; run by hand it starts its own redis-server.
const server =
  process.env.BENCH_REDIS_URL !== undefined ? { url: process.env.BENCH_REDIS_URL, stop: async () => undefined } : await startRedis();
try {
  for (const listeners of (process.env.LISTENERS ?? '1,60').split(',').map(Number)) {
    const result = await run(server, listeners);
    console.log(process.env.BENCH_REDIS_URL !== undefined ? `${RESULT_PREFIX}${JSON.stringify(result)}` : JSON.stringify(result));
  }
} finally {
  await server.stop();
}
setImmediate(() => process.exit(0));
