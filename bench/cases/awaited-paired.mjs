// `await bus.dispatch()` and @nestjs/event-emitter's `await emitAsync` in one process, in
// alternating passes, so both see the same moments of the machine: on a shared machine two
// processes a second apart can run the same loop at speeds a factor of two apart (measured here:
// one process pinned to either core, 215 vs 420 ns per awaited dispatch), which decides a ratio of
// two separate processes more than the libraries do. Variants (the listener of both apps):
//   plain          a plain method (`{ async: true }` for this package)
//   async-method   an `async` method (it returns a promise)
//   done           a plain method, and the bus loop awaits `dispatch(...).done` (a native promise)
//                  rather than the handle (a thenable, which costs V8 one more promise job)
import { median, payloadOf, report, yieldToLoop } from '../lib/harness.mjs';
import { decorateMethod, eventBusPackage, listenerClass } from '../lib/nest.mjs';
import { listener, sink } from '../lib/work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitter2, EventEmitterModule, OnEvent as OnEmitterEvent } from '@nestjs/event-emitter';

const { EventBus, EventBusModule, OnEvent } = eventBusPackage();
const variant = process.env.BENCH_VARIANT ?? 'plain';
const n = Number(process.env.BENCH_N ?? 100_000);
const passes = Number(process.env.BENCH_PASSES ?? 9);
const warmupMs = Number(process.env.BENCH_WARMUP_MAX_MS ?? 500);
const asyncFunctions = variant === 'async-method';

async function app(module, Listeners) {
  Injectable()(Listeners);
  class AppModule {}
  Module({ imports: [module], providers: [Listeners] })(AppModule);
  return NestFactory.createApplicationContext(AppModule, { logger: false });
}

const BusListeners = listenerClass('BusListeners', 1, listener, { asyncFunctions });
decorateMethod(BusListeners, 'handle0', OnEvent('user.registered', { async: true }));
const busApp = await app(EventBusModule.forRoot(), BusListeners);
const bus = busApp.get(EventBus);

const EmitterListeners = listenerClass('EmitterListeners', 1, listener, { asyncFunctions });
decorateMethod(EmitterListeners, 'handle0', OnEmitterEvent('user.registered'));
const emitterApp = await app(EventEmitterModule.forRoot(), EmitterListeners);
const emitter = emitterApp.get(EventEmitter2);

const loops = {
  bus:
    variant === 'done'
      ? async (count, from) => {
          for (let i = from; i < from + count; i++) await bus.dispatch('user.registered', payloadOf(i)).done;
        }
      : async (count, from) => {
          for (let i = from; i < from + count; i++) await bus.dispatch('user.registered', payloadOf(i));
        },
  emitter: async (count, from) => {
    for (let i = from; i < from + count; i++) await emitter.emitAsync('user.registered', payloadOf(i));
  },
};

let next = 0;
const timed = async (kind, count) => {
  const t0 = process.hrtime.bigint();
  await loops[kind](count, next);
  next += count;
  return Number(process.hrtime.bigint() - t0) / count;
};

// Warm-up: both loops, in turns, until the JIT has settled.
const warmStart = performance.now();
while (performance.now() - warmStart < warmupMs) {
  await timed('bus', 10_000);
  await timed('emitter', 10_000);
}
await yieldToLoop();

const busNs = [];
const emitterNs = [];
const ratios = [];
for (let p = 0; p < passes; p++) {
  // Which one goes first alternates: neither always runs right after the other's garbage.
  const first = p % 2 === 0 ? 'bus' : 'emitter';
  const a = await timed(first, n);
  const b = await timed(first === 'bus' ? 'emitter' : 'bus', n);
  const [own, theirs] = first === 'bus' ? [a, b] : [b, a];
  busNs.push(own);
  emitterNs.push(theirs);
  ratios.push(theirs / own);
}
report({
  n,
  passes,
  busNsPerOp: median(busNs),
  emitterNsPerOp: median(emitterNs),
  speedUp: median(ratios),
  check: { calls: sink.calls },
});
await busApp.close();
await emitterApp.close();
setImmediate(() => process.exit(0));
