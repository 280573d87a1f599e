// Raw Redis Streams: pipelined XADD (1000 per pipeline) -> XREADGROUP (COUNT 1000) + XACK per batch.
import { require } from '../lib/nest.mjs';
import { fail, now, ready, receiveCounter, remoteEnv, reportSend, startSending } from '../lib/remote.mjs';
import { listener } from '../lib/work.mjs';

const { Redis } = require('ioredis');
const env = remoteEnv();
const stream = env.channel;
const group = 'bench';

async function receive() {
  const client = new Redis(env.url);
  await client.xgroup('CREATE', stream, group, '$', 'MKSTREAM');
  let running = true;
  const counter = receiveCounter(env.n, { onDone: () => (running = false) });
  ready();
  while (running) {
    const reply = await client.xreadgroup('GROUP', group, 'c1', 'COUNT', 1000, 'BLOCK', 1000, 'STREAMS', stream, '>');
    if (reply === null) continue;
    const ids = [];
    for (const [, entries] of reply) {
      for (const [id, fields] of entries) {
        listener(JSON.parse(fields[1]));
        ids.push(id);
      }
    }
    // Acknowledge before counting: the measured work includes the XACK round trip.
    await client.xack(stream, group, ...ids);
    for (let i = 0; i < ids.length; i++) counter.hit();
  }
}

async function send() {
  const client = new Redis(env.url);
  await client.ping();
  const start = startSending();
  const sent = [];
  for (let i = 0; i < env.n; i += 1000) {
    const pipeline = client.pipeline();
    for (let j = i; j < Math.min(env.n, i + 1000); j++) pipeline.xadd(stream, '*', 'data', JSON.stringify({ userId: 'u1', n: j }));
    sent.push(pipeline.exec());
  }
  await Promise.all(sent);
  reportSend(start, now());
  client.disconnect();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? receive() : send()).catch(fail);
