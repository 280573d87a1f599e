// This package, memory driver, at application scale: listeners registered with
// bus.registerListener(), events routed by name (see bench/lib/routing-workload.mjs for the variants).
import { payloadOf, runCase } from '../lib/harness.mjs';
import { eventBusPackage } from '../lib/nest.mjs';
import { keysOf, nameOf, parseVariant } from '../lib/routing-workload.mjs';
import { listener, sink } from '../lib/work.mjs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

const { EventBus, EventBusModule } = eventBusPackage();

await runCase(async ({ variant }) => {
  const workload = parseVariant(variant);
  class AppModule {}
  Module({ imports: [EventBusModule.forRoot()] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const bus = app.get(EventBus);
  for (const eventName of keysOf(workload)) bus.registerListener({ eventName, onEvent: (e) => listener(e) });
  return {
    run(n, from) {
      for (let i = from; i < from + n; i++) bus.dispatch(nameOf(workload, i), payloadOf(i));
    },
    settle: () => bus.wait(),
    check: () => ({ calls: sink.calls, errors: bus.getErrors().length }),
    close: () => app.close(),
  };
});
