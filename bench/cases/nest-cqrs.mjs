// @nestjs/cqrs EventBus.publish to one @EventsHandler, yielding to the event loop every 1000
// events (its tight loop is super-linear otherwise).
import { runCase, yieldToLoop } from '../lib/harness.mjs';
import { listener, sink } from '../lib/work.mjs';
import '../lib/nest.mjs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { CqrsModule, EventBus, EventsHandler } from '@nestjs/cqrs';

class UserRegistered {
  constructor(userId, n) {
    this.userId = userId;
    this.n = n;
  }
}

await runCase(async () => {
  class UserRegisteredHandler {
    handle(event) {
      listener(event);
    }
  }
  EventsHandler(UserRegistered)(UserRegisteredHandler);
  class AppModule {}
  Module({ imports: [CqrsModule.forRoot()], providers: [UserRegisteredHandler] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const bus = app.get(EventBus);
  return {
    async run(n, from) {
      for (let i = from; i < from + n; i++) {
        bus.publish(new UserRegistered('u1', i));
        if ((i + 1) % 1000 === 0) await yieldToLoop();
      }
      await yieldToLoop();
    },
    check: () => sink.calls,
    close: () => app.close(),
  };
});
