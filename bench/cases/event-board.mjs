// The event board's cost per dispatch: the memory driver, 1 sync listener, fire-and-forget, in a
// Nest HTTP application (Express) on 127.0.0.1 with EventBoardModule mounted. Variants:
//   unwatched   board mounted, no page open (nothing should change per dispatch)
//   watched     a page open: the board's state API is polled every second, as the page does
//   none        the same HTTP application without the board (the baseline)
import { payloadOf, runCase } from '../lib/harness.mjs';
import { decorateMethod, eventBusPackage, listenerClass } from '../lib/nest.mjs';
import { listener, sink } from '../lib/work.mjs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule, EventBoardModule, OnEvent } = eventBusPackage();

await runCase(async ({ variant }) => {
  const Listeners = listenerClass('UserListeners', 1, listener);
  decorateMethod(Listeners, 'handle0', OnEvent('user.registered'));
  Injectable()(Listeners);
  class AppModule {}
  const imports = [EventBusModule.forRoot(), ...(variant === 'none' ? [] : [EventBoardModule.register()])];
  Module({ imports, providers: [Listeners] })(AppModule);
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  const bus = app.get(EventBus);
  let poller;
  if (variant === 'watched') {
    const poll = () => fetch(`http://127.0.0.1:${port}/_events/api/state`).then((r) => r.arrayBuffer());
    await poll();
    poller = setInterval(() => void poll().catch(() => undefined), 1000);
  }
  return {
    run(n, from) {
      for (let i = from; i < from + n; i++) bus.dispatch('user.registered', payloadOf(i));
    },
    settle: () => bus.wait(),
    check: () => ({ calls: sink.calls, errors: bus.getErrors().length }),
    close: async () => {
      clearInterval(poller);
      await app.close();
    },
  };
});
