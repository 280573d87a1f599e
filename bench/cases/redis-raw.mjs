// Raw ioredis pub/sub, the ceiling a user could hand-write. BENCH_ROLE send | receive.
// Variants: publish (un-awaited PUBLISH per event), pipeline (pipeline() of 1000), latency (one at a time).
import { require } from '../lib/nest.mjs';
import { fail, latencyRecorder, now, ready, receiveCounter, remoteEnv, reportSend, sendOneAtATime, startSending } from '../lib/remote.mjs';
import { listener } from '../lib/work.mjs';

const { Redis } = require('ioredis');
const env = remoteEnv();

async function receive() {
  const sub = new Redis(env.url);
  if (env.variant === 'latency') {
    const ackClient = new Redis(env.url);
    const recorder = latencyRecorder(env.n, env.warmup, { ack: () => ackClient.publish(`${env.channel}:ack`, '1') });
    sub.on('message', (_channel, message) => {
      const event = JSON.parse(message);
      listener(event);
      void recorder.hit(event.sentNs);
    });
  } else {
    const counter = receiveCounter(env.n);
    sub.on('message', (_channel, message) => {
      listener(JSON.parse(message));
      counter.hit();
    });
  }
  await sub.subscribe(env.channel);
  ready();
}

async function send() {
  const pub = new Redis(env.url);
  await pub.ping();
  if (env.variant === 'latency') {
    const { start, end } = await sendOneAtATime(Redis, env.url, env.channel, env.warmup + env.n, (i, sentNs) =>
      pub.publish(env.channel, JSON.stringify({ userId: 'u1', n: i, sentNs })),
    );
    reportSend(start, end);
  } else if (env.variant === 'pipeline') {
    const start = startSending();
    const sent = [];
    for (let i = 0; i < env.n; i += 1000) {
      const pipeline = pub.pipeline();
      for (let j = i; j < Math.min(env.n, i + 1000); j++) pipeline.publish(env.channel, JSON.stringify({ userId: 'u1', n: j }));
      sent.push(pipeline.exec());
    }
    await Promise.all(sent);
    reportSend(start, now());
  } else {
    const start = startSending();
    let last;
    for (let i = 0; i < env.n; i++) last = pub.publish(env.channel, JSON.stringify({ userId: 'u1', n: i }));
    await last;
    reportSend(start, now());
  }
  pub.disconnect();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? receive() : send()).catch(fail);
