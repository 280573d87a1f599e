// Two one-at-a-time latencies measured in the same pair of processes, in alternating blocks of
// BLOCK events, so both see the same machine: on a shared machine two separate runs a few seconds
// apart differ by more than what is being compared. Variants:
//   bus-raw         this package's redis driver (dispatch → listener) vs raw ioredis publish → subscribe
//   tracked-oneway  a tracked dispatch's round trip (sender-measured) vs an untracked dispatch one way
// One-way delays are measured by the receiver (send call to listener call); each event is sent once
// the receiver acknowledged the previous one (a raw ioredis ack channel, the same for both kinds).
import { decorateMethod, eventBusPackage, require } from '../lib/nest.mjs';
import { report } from '../lib/harness.mjs';
import { fail, now, ready, remoteEnv } from '../lib/remote.mjs';
import { listener } from '../lib/work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule, OnEvent } = eventBusPackage();
const { Redis } = require('ioredis');
const EVENT = 'user.registered';
const BLOCK = 100;
const env = remoteEnv();
const rawChannel = `${env.channel}:raw`;
const [first, second] = env.variant === 'tracked-oneway' ? ['oneway', 'tracked'] : ['bus', 'raw'];

const percentiles = (samples) => {
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] / 1000;
  return { p50Us: pct(50), p95Us: pct(95), p99Us: pct(99) };
};

async function app(providers) {
  class AppModule {}
  Module({
    imports: [EventBusModule.forRoot({ driver: 'redis', redis: { url: env.url, channelPrefix: process.env.BENCH_PREFIX } })],
    providers,
  })(AppModule);
  const context = await NestFactory.createApplicationContext(AppModule, { logger: false });
  return { context, bus: context.get(EventBus) };
}

/** Per kind: the first `warmup` events are not recorded, then `n` are. */
function samplesOf() {
  const by = new Map();
  return {
    add(kind, delayNs) {
      let s = by.get(kind);
      if (s === undefined) by.set(kind, (s = { seen: 0, values: new Float64Array(env.n) }));
      if (s.seen >= env.warmup && s.seen < env.warmup + env.n) s.values[s.seen - env.warmup] = delayNs;
      s.seen++;
    },
    result: (kind) => percentiles(by.get(kind)?.values ?? []),
  };
}

async function receive() {
  const ackClient = new Redis(env.url);
  const ack = () => ackClient.publish(`${env.channel}:ack`, '1');
  const samples = samplesOf();
  const oneWay = (kind, sentNs) => {
    samples.add(kind, Number(now() - BigInt(sentNs)));
    void ack();
  };
  const finish = () => {
    report({ role: 'receive', [first]: samples.result(first), ...(second === 'raw' ? { raw: samples.result('raw') } : {}) });
    setImmediate(() => process.exit(0));
  };
  class UserListener {
    handle(event) {
      listener(event);
      if (event.kind === 'end') finish();
      else if (event.kind !== 'tracked') oneWay(event.kind, event.sentNs);
    }
  }
  decorateMethod(UserListener, 'handle', OnEvent(EVENT));
  Injectable()(UserListener);
  await app([UserListener]);
  if (second === 'raw') {
    const sub = new Redis(env.url);
    sub.on('message', (_channel, message) => {
      const event = JSON.parse(message);
      listener(event);
      oneWay('raw', event.sentNs);
    });
    await sub.subscribe(rawChannel);
  }
  ready();
}

async function send() {
  const { context, bus } = await app([]);
  const pub = new Redis(env.url);
  const ackSub = new Redis(env.url);
  let wake;
  ackSub.on('message', () => wake?.());
  await ackSub.subscribe(`${env.channel}:ack`);
  await pub.ping();
  const acked = () => new Promise((resolve) => (wake = resolve));
  const roundTrips = samplesOf();
  const perKind = env.warmup + env.n;
  const sent = { [first]: 0, [second]: 0 };
  for (let i = 0; sent[first] < perKind || sent[second] < perKind; i++) {
    let kind = Math.floor(i / BLOCK) % 2 === 0 ? first : second;
    if (sent[kind] === perKind) kind = kind === first ? second : first;
    sent[kind]++;
    const payload = { userId: 'u1', n: i, kind, sentNs: '' };
    if (kind === 'tracked') {
      const t0 = now();
      await bus.dispatch(EVENT, payload, { trackRemote: { timeoutMs: 10_000 } });
      roundTrips.add(kind, Number(now() - t0));
      continue;
    }
    const ackedNow = acked();
    payload.sentNs = String(now());
    if (kind === 'raw') void pub.publish(rawChannel, JSON.stringify(payload));
    else bus.dispatch(EVENT, payload);
    await ackedNow;
  }
  bus.dispatch(EVENT, { kind: 'end' });
  report({ role: 'send', ...(second === 'tracked' ? { tracked: roundTrips.result('tracked') } : {}) });
  await new Promise((resolve) => setTimeout(resolve, 50));
  pub.disconnect();
  ackSub.disconnect();
  await context.close();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? receive() : send()).catch(fail);
