// node bench/count-jobs.mjs bus|nee [path/to/dist/index.js] — promises created and promise jobs run per
// awaited dispatch with one async listener (bus) or per `await emitAsync` (@nestjs/event-emitter), via v8.promiseHooks.
// LISTENER=async-function: the listener is an `async` method (it returns a promise) rather than a plain one.
// AWAIT=done (bus only): the loop awaits `bus.dispatch(...).done` rather than the handle.
import { promiseHooks } from 'node:v8';
import { createRequire } from 'node:module';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
const require = createRequire(import.meta.url);
const which = process.argv[2];
const distMain = process.argv[3] ?? new URL('../dist/index.js', import.meta.url).pathname;
const asyncFunction = process.env.LISTENER === 'async-function';
/** The same listener body for both packages: a plain method, or an `async` one. */
const listenerClass = () =>
  asyncFunction
    ? class L {
        async handle(e) {
          e.n++;
        }
      }
    : class L {
        handle(e) {
          e.n++;
        }
      };
let init = 0;
let before = 0;
let body;
if (which === 'bus') {
  const { EventBus, EventBusModule, OnEvent } = require(distMain);
  const L = listenerClass();
  OnEvent('user.registered', { async: true })(L.prototype, 'handle', Object.getOwnPropertyDescriptor(L.prototype, 'handle'));
  Injectable()(L);
  class M {}
  Module({ imports: [EventBusModule.forRoot()], providers: [L] })(M);
  const app = await NestFactory.createApplicationContext(M, { logger: false });
  const bus = app.get(EventBus);
  body =
    process.env.AWAIT === 'done'
      ? async (n) => {
          for (let i = 0; i < n; i++) await bus.dispatch('user.registered', { n: i }).done;
        }
      : async (n) => {
          for (let i = 0; i < n; i++) await bus.dispatch('user.registered', { n: i });
        };
} else {
  const { EventEmitter2, EventEmitterModule, OnEvent } = require('@nestjs/event-emitter');
  const L = listenerClass();
  OnEvent('user.registered')(L.prototype, 'handle', Object.getOwnPropertyDescriptor(L.prototype, 'handle'));
  Injectable()(L);
  class M {}
  Module({ imports: [EventEmitterModule.forRoot()], providers: [L] })(M);
  const app = await NestFactory.createApplicationContext(M, { logger: false });
  const em = app.get(EventEmitter2);
  body = async (n) => {
    for (let i = 0; i < n; i++) await em.emitAsync('user.registered', { n: i });
  };
}
await body(10000);
const N = 10000;
const stop = promiseHooks.createHook({ init: () => init++, before: () => before++ });
await body(N);
stop();
console.log(
  `${which}: promises created per awaited dispatch ${(init / N).toFixed(2)}, promise jobs (reactions run) ${(before / N).toFixed(2)}`,
);
process.exit(0);
