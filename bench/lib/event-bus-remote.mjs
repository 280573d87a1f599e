// The sender/receiver pair shared by this package's Redis cases: a sender app dispatches, a listener
// in a receiver app (another process) gets it. Variants: throughput (fire-and-forget dispatch),
// latency (one at a time).
import { decorateMethod, eventBusPackage, require } from './nest.mjs';
import { fail, latencyRecorder, now, ready, receiveCounter, remoteEnv, reportSend, sendOneAtATime, startSending } from './remote.mjs';
import { listener } from './work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule, OnEvent } = eventBusPackage();
const { Redis } = require('ioredis');
const EVENT = 'user.registered';

/** Runs this process's role (sender or receiver) with the module options `optionsFor(env)` gives. */
export function runEventBusRemote(optionsFor) {
  const env = remoteEnv();
  const busOptions = optionsFor(env);

  async function app(providers) {
    class AppModule {}
    Module({ imports: [EventBusModule.forRoot(busOptions)], providers })(AppModule);
    const context = await NestFactory.createApplicationContext(AppModule, { logger: false });
    return { context, bus: context.get(EventBus) };
  }

  async function receive() {
    let onEvent;
    if (env.variant === 'latency') {
      const ackClient = new Redis(env.url);
      const recorder = latencyRecorder(env.n, env.warmup, { ack: () => ackClient.publish(`${env.channel}:ack`, '1') });
      onEvent = (event) => {
        listener(event);
        void recorder.hit(event.sentNs);
      };
    } else {
      const counter = receiveCounter(env.n);
      onEvent = (event) => {
        listener(event);
        counter.hit();
      };
    }
    class UserListener {
      handle(event) {
        onEvent(event);
      }
    }
    decorateMethod(UserListener, 'handle', OnEvent(EVENT));
    Injectable()(UserListener);
    // Listeners are subscribed when app.init() resolves (§7).
    await app([UserListener]);
    ready();
  }

  async function send() {
    const { context, bus } = await app([]);
    if (env.variant === 'latency') {
      const { start, end } = await sendOneAtATime(Redis, env.url, env.channel, env.warmup + env.n, (i, sentNs) => {
        bus.dispatch(EVENT, { userId: 'u1', n: i, sentNs });
      });
      reportSend(start, end);
    } else {
      const start = startSending();
      for (let i = 0; i < env.n; i++) bus.dispatch(EVENT, { userId: 'u1', n: i });
      // Every publish confirmed (a redis handle tracks its publish).
      await bus.wait();
      reportSend(start, now(), { errors: bus.getErrors().length });
    }
    await context.close();
    setImmediate(() => process.exit(0));
  }

  (env.role === 'receive' ? receive() : send()).catch(fail);
}
