// @nestjs/microservices Redis transport, request/reply: ClientProxy.send → @MessagePattern handler
// in another process, which returns a reply the sender awaits. What a user writes by hand to learn
// a remote handler's outcome. Variants: rtt (one at a time), pipelined (a window in flight).
import { decorateMethod } from '../lib/nest.mjs';
import { fail, ready, receiveCounter, remoteEnv } from '../lib/remote.mjs';
import { roundTripsOneAtATime, roundTripsPipelined } from '../lib/round-trips.mjs';
import { listener } from '../lib/work.mjs';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, MessagePattern, Transport } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';

const env = remoteEnv();
const { hostname: host, port } = new URL(env.url);
const transport = { transport: Transport.REDIS, options: { host, port: Number(port) } };
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256);
// Both variants warm up first (the JIT, the connections), then measure; the receiver counts both.
const warmup = env.variant === 'rtt' ? env.warmup : env.pipelinedWarmup;
const total = () => warmup + env.n;

async function receive() {
  const counter = receiveCounter(total());
  class UserHandler {
    handle(data) {
      listener(data);
      // The reply must leave before the process exits on the last one.
      setImmediate(() => counter.hit());
      return { ok: true };
    }
  }
  decorateMethod(UserHandler, 'handle', MessagePattern(env.channel));
  Controller()(UserHandler);
  class AppModule {}
  Module({ controllers: [UserHandler] })(AppModule);
  const app = await NestFactory.createMicroservice(AppModule, { ...transport, logger: false });
  await app.listen();
  ready();
}

async function send() {
  const client = ClientProxyFactory.create(transport);
  await client.connect();
  const call = (i) => lastValueFrom(client.send(env.channel, { userId: 'u1', n: i }));
  if (env.variant === 'rtt') await roundTripsOneAtATime(env.warmup, env.n, call);
  else await roundTripsPipelined(warmup, env.n, WINDOW, call);
  await client.close();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? receive() : send()).catch(fail);
