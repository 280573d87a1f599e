// This package, memory driver, EventBusModule.forRoot() in a Nest application context, listeners
// discovered from @OnEvent methods. Variants:
//   ff1 | ff10   fire-and-forget dispatch() to 1 or 10 sync listeners
//   ff1kept      as ff1, but every handle is stored (in a ring of 1024), so it must be allocated
//   ff1recorded  as ff1, after a test recorder was started and stopped (bus.record().stop()):
//                what an app pays for the recorder when none is active
//   awaited1     await bus.dispatch() one after another, 1 async listener
//   awaited1fn   as awaited1, the listener an `async` method (it returns a promise)
//   batch1       1000 dispatches to 1 async listener, then await bus.wait()
import { payloadOf, runCase } from '../lib/harness.mjs';
import { decorateMethod, eventBusPackage, listenerClass } from '../lib/nest.mjs';
import { listener, sink } from '../lib/work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule, OnEvent } = eventBusPackage();

await runCase(async ({ variant }) => {
  const listeners = variant === 'ff10' ? 10 : 1;
  // ff1recorded runs the ff1 loop below.
  const async = variant === 'awaited1' || variant === 'awaited1fn' || variant === 'batch1';
  const Listeners = listenerClass('UserListeners', listeners, listener, { asyncFunctions: variant === 'awaited1fn' });
  for (let i = 0; i < listeners; i++) decorateMethod(Listeners, `handle${i}`, OnEvent('user.registered', { async }));
  Injectable()(Listeners);
  class AppModule {}
  Module({ imports: [EventBusModule.forRoot()], providers: [Listeners] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const bus = app.get(EventBus);
  if (variant === 'ff1recorded') bus.record().stop();
  const close = () => app.close();
  const check = () => ({ calls: sink.calls, errors: bus.getErrors().length });
  if (variant === 'awaited1' || variant === 'awaited1fn') {
    return {
      async run(n, from) {
        for (let i = from; i < from + n; i++) await bus.dispatch('user.registered', payloadOf(i));
      },
      check,
      close,
    };
  }
  if (variant === 'batch1') {
    return {
      async run(n, from) {
        for (let i = from; i < from + n; i++) {
          bus.dispatch('user.registered', payloadOf(i));
          if ((i + 1) % 1000 === 0) await bus.wait();
        }
        await bus.wait();
      },
      check,
      close,
    };
  }
  if (variant === 'ff1kept') {
    // The handle escapes (kept in a ring), so V8 cannot optimise its allocation away.
    const ring = new Array(1024);
    return {
      run(n, from) {
        for (let i = from; i < from + n; i++) ring[i & 1023] = bus.dispatch('user.registered', payloadOf(i));
      },
      settle: () => bus.wait(),
      check,
      close,
    };
  }
  return {
    run(n, from) {
      for (let i = from; i < from + n; i++) bus.dispatch('user.registered', payloadOf(i));
    },
    settle: () => bus.wait(),
    check,
    close,
  };
});
