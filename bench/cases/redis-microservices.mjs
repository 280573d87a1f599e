// @nestjs/microservices Redis transport: ClientProxy.emit -> @EventPattern handler in another process.
import { decorateMethod } from '../lib/nest.mjs';
import { fail, now, ready, receiveCounter, remoteEnv, reportSend, startSending } from '../lib/remote.mjs';
import { listener } from '../lib/work.mjs';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ClientProxyFactory, EventPattern, Transport } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';

const env = remoteEnv();
const { hostname: host, port } = new URL(env.url);
const transport = { transport: Transport.REDIS, options: { host, port: Number(port) } };

async function receive() {
  const counter = receiveCounter(env.n);
  class UserEvents {
    handle(data) {
      listener(data);
      counter.hit();
    }
  }
  decorateMethod(UserEvents, 'handle', EventPattern(env.channel));
  Controller()(UserEvents);
  class AppModule {}
  Module({ controllers: [UserEvents] })(AppModule);
  const app = await NestFactory.createMicroservice(AppModule, { ...transport, logger: false });
  await app.listen();
  ready();
}

async function send() {
  const client = ClientProxyFactory.create(transport);
  await client.connect();
  const start = startSending();
  let last;
  for (let i = 0; i < env.n; i++) last = client.emit(env.channel, { userId: 'u1', n: i });
  await lastValueFrom(last, { defaultValue: undefined });
  reportSend(start, now());
  await client.close();
  setImmediate(() => process.exit(0));
}

(env.role === 'receive' ? receive() : send()).catch(fail);
