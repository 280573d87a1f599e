// This package's redis driver, tracked: the sender dispatches with { trackRemote: true } and awaits
// the handle, which settles when the listener in the receiver process reported its outcome.
// Variants: rtt (one at a time), pipelined (a window of dispatches in flight).
import { decorateMethod, eventBusPackage } from '../lib/nest.mjs';
import { fail, ready, receiveCounter, remoteEnv } from '../lib/remote.mjs';
import { roundTripsOneAtATime, roundTripsPipelined } from '../lib/round-trips.mjs';
import { listener } from '../lib/work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule, OnEvent } = eventBusPackage();
const EVENT = 'user.registered';
const env = remoteEnv();
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256);

async function app(providers) {
  class AppModule {}
  Module({
    imports: [EventBusModule.forRoot({ driver: 'redis', redis: { url: env.url, channelPrefix: process.env.BENCH_PREFIX } })],
    providers,
  })(AppModule);
  const context = await NestFactory.createApplicationContext(AppModule, { logger: false });
  return { context, bus: context.get(EventBus) };
}

// Both variants warm up first (the JIT, the connections), then measure; the receiver counts both.
const warmup = env.variant === 'rtt' ? env.warmup : env.pipelinedWarmup;
const total = () => warmup + env.n;

async function receive() {
  const counter = receiveCounter(total());
  class UserListener {
    handle(event) {
      listener(event);
      counter.hit();
    }
  }
  decorateMethod(UserListener, 'handle', OnEvent(EVENT));
  Injectable()(UserListener);
  await app([UserListener]);
  ready();
}

async function send() {
  const { context, bus } = await app([]);
  let errors = 0;
  const call = async (i) => {
    const result = await bus.dispatch(EVENT, { userId: 'u1', n: i }, { trackRemote: { timeoutMs: 10_000 } });
    if (result.errors.length > 0 || result.outcomes.length !== 1) errors++;
  };
  if (env.variant === 'rtt') await roundTripsOneAtATime(env.warmup, env.n, call);
  else await roundTripsPipelined(warmup, env.n, WINDOW, call);
  if (errors > 0) process.stderr.write(`${errors} tracked dispatch(es) did not come back with exactly one ok outcome\n`);
  await context.close();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? receive() : send()).catch(fail);
