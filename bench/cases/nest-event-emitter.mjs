// @nestjs/event-emitter in a Nest application context, listeners discovered from @OnEvent methods.
// Variants: emit1 | emit10 (fire-and-forget emit), emitAsync1 (sequential await emitAsync),
// emitAsync1fn (as emitAsync1, the listener an `async` method).
import { payloadOf, runCase } from '../lib/harness.mjs';
import { decorateMethod, listenerClass } from '../lib/nest.mjs';
import { listener, sink } from '../lib/work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventEmitter2, EventEmitterModule, OnEvent } from '@nestjs/event-emitter';

await runCase(async ({ variant }) => {
  const listeners = variant === 'emit10' ? 10 : 1;
  const Listeners = listenerClass('UserListeners', listeners, listener, { asyncFunctions: variant === 'emitAsync1fn' });
  for (let i = 0; i < listeners; i++) decorateMethod(Listeners, `handle${i}`, OnEvent('user.registered'));
  Injectable()(Listeners);
  class AppModule {}
  Module({ imports: [EventEmitterModule.forRoot({ maxListeners: 20 })], providers: [Listeners] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const emitter = app.get(EventEmitter2);
  const close = () => app.close();
  if (variant === 'emitAsync1' || variant === 'emitAsync1fn') {
    return {
      async run(n, from) {
        for (let i = from; i < from + n; i++) await emitter.emitAsync('user.registered', payloadOf(i));
      },
      check: () => sink.calls,
      close,
    };
  }
  return {
    run(n, from) {
      for (let i = from; i < from + n; i++) emitter.emit('user.registered', payloadOf(i));
    },
    // Its listener wrapper is an async function: let the microtasks drain.
    settle: () => new Promise((resolve) => setImmediate(resolve)),
    check: () => sink.calls,
    close,
  };
});
