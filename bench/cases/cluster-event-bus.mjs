// This package on a Redis Cluster (or, for comparison, on the bench's single node) over many event
// names: a sender app dispatches round-robin over BENCH_NAMES names, one listener of every name in a
// receiver app (another process) handles each event.
// BENCH_VARIANT: sharded | streams (on the cluster, BENCH_CLUSTER_NODES) or single-sharded | single-streams
// (the same options on the single node, BENCH_REDIS_URL).
import { clusterNodesFromEnv, eventNames } from '../lib/redis-cluster-launcher.mjs';
import { decorateMethod, eventBusPackage } from '../lib/nest.mjs';
import { fail, now, ready, receiveCounter, remoteEnv, reportSend, startSending } from '../lib/remote.mjs';
import { listener } from '../lib/work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule, OnEvent } = eventBusPackage();
const env = remoteEnv();
const names = eventNames(Number(process.env.BENCH_NAMES ?? 64));
const single = env.variant.startsWith('single-');
const kind = env.variant.replace('single-', '');
const target = single ? { url: env.url } : { cluster: { nodes: clusterNodesFromEnv() } };
const busOptions =
  kind === 'streams'
    ? { driver: 'redis-streams', redis: { ...target, channelPrefix: process.env.BENCH_PREFIX }, streams: { group: 'bench' } }
    : { driver: 'redis', redis: { ...target, channelPrefix: process.env.BENCH_PREFIX, sharded: true } };

async function app(providers) {
  class AppModule {}
  Module({ imports: [EventBusModule.forRoot(busOptions)], providers })(AppModule);
  const context = await NestFactory.createApplicationContext(AppModule, { logger: false });
  return { context, bus: context.get(EventBus) };
}

async function receive() {
  // Made once the app is up: its idle timer starts at once, and starting 64 consumer groups on a cluster
  // can take longer than the idle window on a busy machine (nothing is sent before READY anyway).
  let counter;
  class Listener {
    handle(event) {
      listener(event);
      counter.hit();
    }
  }
  decorateMethod(Listener, 'handle', OnEvent(names));
  Injectable()(Listener);
  const started = Date.now();
  await app([Listener]);
  counter = receiveCounter(env.n);
  process.stderr.write(`receiver started in ${Date.now() - started} ms\n`);
  ready();
}

async function send() {
  const { context, bus } = await app([]);
  const start = startSending();
  for (let i = 0; i < env.n; i++) {
    bus.dispatch(names[i % names.length], { userId: 'u1', n: i });
    // Like the raw case: every 1000 events let the driver write what is queued.
    if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
  }
  await bus.wait();
  reportSend(start, now(), { errors: bus.getErrors().length });
  await context.close();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? receive() : send()).catch(fail);
