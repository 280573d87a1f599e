// Raw ioredis Cluster clients over many event names, the ceiling a user could hand-write on a cluster.
// BENCH_ROLE send | receive; BENCH_VARIANT sharded | streams; BENCH_NAMES event names (default 64); events
// go round-robin over the names. Keys are hash-tagged per name: `<prefix>{<name>}`.
//   sharded: SPUBLISH (auto-pipelined per node) -> one SSUBSCRIBE per name (shardedSubscribers: one
//            subscriber connection per master).
//   streams: XADD (auto-pipelined per node) -> per master, one pipeline of XREADGROUP COUNT 1000 over that
//            master's streams, then one pipeline of XACKs (streams of different slots cannot share an XREADGROUP).
import { clusterNodesFromEnv, eventNames } from '../lib/redis-cluster-launcher.mjs';
import { require } from '../lib/nest.mjs';
import { fail, now, ready, receiveCounter, remoteEnv, reportSend, startSending } from '../lib/remote.mjs';
import { listener } from '../lib/work.mjs';

const { Cluster } = require('ioredis');
const calculateSlot = require('cluster-key-slot');
const env = remoteEnv();
const nodes = clusterNodesFromEnv();
const names = eventNames(Number(process.env.BENCH_NAMES ?? 64));
const prefix = process.env.BENCH_PREFIX ?? 'bench:';
const keys = names.map((name) => `${prefix}{${name}}`);
const group = 'bench';

function cluster(options = {}) {
  const client = new Cluster(nodes, options);
  client.on('error', () => {});
  return new Promise((resolve, reject) => {
    client.once('ready', () => resolve(client));
    client.once('end', () => reject(new Error('cluster connection ended before ready')));
  });
}

async function receiveSharded() {
  const sub = await cluster({ shardedSubscribers: true });
  const counter = receiveCounter(env.n);
  sub.on('smessage', (_channel, message) => {
    listener(JSON.parse(message));
    counter.hit();
  });
  // One call per name: one SSUBSCRIBE may only name channels of one slot.
  await Promise.all(keys.map((key) => sub.ssubscribe(key)));
  ready();
}

async function receiveStreams() {
  const client = await cluster();
  await Promise.all(keys.map((key) => client.xgroup('CREATE', key, group, '$', 'MKSTREAM')));
  // Streams by the master that serves them; reads go on that master's connection.
  const byMaster = new Map();
  for (const key of keys) {
    const master = client.slots[calculateSlot(key)][0];
    if (!byMaster.has(master)) byMaster.set(master, []);
    byMaster.get(master).push(key);
  }
  const connections = client.nodes('master');
  let running = true;
  const counter = receiveCounter(env.n, { onDone: () => (running = false) });
  ready();
  await Promise.all(
    [...byMaster].map(async ([address, streams]) => {
      const redis = connections.find((node) => `${node.options.host}:${node.options.port}` === address);
      while (running) {
        const reads = redis.pipeline();
        for (const stream of streams) reads.xreadgroup('GROUP', group, 'c1', 'COUNT', 1000, 'STREAMS', stream, '>');
        const replies = await reads.exec();
        const acks = redis.pipeline();
        let got = 0;
        for (const [error, reply] of replies) {
          if (error) throw error;
          if (reply === null) continue;
          for (const [stream, entries] of reply) {
            const ids = [];
            for (const [id, fields] of entries) {
              listener(JSON.parse(fields[1]));
              ids.push(id);
            }
            if (ids.length > 0) acks.xack(stream, group, ...ids);
            got += ids.length;
          }
        }
        if (got === 0) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        // Acknowledge before counting: the measured work includes the XACK round trip.
        await acks.exec();
        for (let i = 0; i < got; i++) counter.hit();
      }
    }),
  );
}

async function send() {
  const client = await cluster({ enableAutoPipelining: true });
  const start = startSending();
  const sent = [];
  for (let i = 0; i < env.n; i++) {
    const key = keys[i % keys.length];
    const payload = JSON.stringify({ userId: 'u1', n: i });
    sent.push(env.variant === 'streams' ? client.xadd(key, '*', 'data', payload) : client.spublish(key, payload));
    // Every 1000 events, let auto-pipelining write what is queued (one pipeline per node), without waiting
    // for the replies: like the single-node raw case's pipelines of 1000.
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(sent);
  reportSend(start, now());
  client.disconnect();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? (env.variant === 'streams' ? receiveStreams() : receiveSharded()) : send()).catch(fail);
