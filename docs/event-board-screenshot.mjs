#!/usr/bin/env node
// Takes docs/event-board.png: a small app on the redis-streams driver (its own redis-server on a
// free port) with a few listeners, some traffic, an error and two dead letters, tracing on (trace
// ids) and tracked dispatches to a second app (remote outcomes), shown in Debian's chromium.
// Run after `npm run build`: node docs/event-board-screenshot.mjs
import 'reflect-metadata';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { chromium } from 'playwright-core';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decorateMethod, eventBusPackage } from '../bench/lib/nest.mjs';
import { startRedis } from '../bench/lib/redis-launcher.mjs';

const { DeadLetterService, EventBoardModule, EventBus, EventBusModule, OnEvent } = eventBusPackage();
const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'event-board.png');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Billing {
  charge(order) {
    if (order.total > 1000) throw new Error(`order ${order.orderId} needs manual approval`);
  }
  async receipt() {
    await sleep(3);
  }
}
class Inventory {
  reserve() {}
}
class Mailer {
  async welcome() {
    await sleep(2);
  }
}
decorateMethod(Billing, 'charge', OnEvent('order.placed', { retry: { attempts: 2 }, breaker: { threshold: 5, cooldownMs: 30_000 } }));
decorateMethod(Billing, 'receipt', OnEvent('order.placed', { async: true, timeoutMs: 2_000 }));
decorateMethod(Inventory, 'reserve', OnEvent('order.placed', { concurrency: 4, maxQueue: 100 }));
decorateMethod(Mailer, 'welcome', OnEvent('user.registered', { async: true }));
class Warehouse {
  pack() {}
  label(order) {
    if (order.express) throw new Error(`no courier for express order ${order.orderId}`);
  }
}
decorateMethod(Warehouse, 'pack', OnEvent('order.shipped'));
decorateMethod(Warehouse, 'label', OnEvent('order.shipped'));
for (const C of [Billing, Inventory, Mailer, Warehouse]) Injectable()(C);

// Spans are made (so rows have trace ids) and dropped: no exporter.
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(new TracerProvider());
const tracer = trace.getTracer('screenshot');

const redis = await startRedis();
let app;
let warehouse;
let browser;
try {
  class AppModule {}
  Module({
    imports: [
      EventBusModule.forRoot({
        driver: 'redis-streams',
        redis: { url: redis.url, channelPrefix: 'shop:' },
        streams: { group: 'shop', maxAttempts: 2, blockMs: 200 },
        telemetry: { tracing: true },
      }),
      EventBoardModule.register({ readOnly: false }),
    ],
    providers: [Billing, Inventory, Mailer],
  })(AppModule);
  app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  const bus = app.get(EventBus);
  class WarehouseModule {}
  Module({
    imports: [
      EventBusModule.forRoot({
        driver: 'redis-streams',
        redis: { url: redis.url, channelPrefix: 'shop:' },
        streams: { group: 'warehouse', maxAttempts: 2, blockMs: 200 },
      }),
    ],
    providers: [Warehouse],
  })(WarehouseModule);
  warehouse = await NestFactory.createApplicationContext(WarehouseModule, { logger: false });

  // Two orders that fail twice become dead letters before the page opens.
  await bus.dispatch('order.placed', { orderId: 'A-1001', total: 1800 });
  await bus.dispatch('order.placed', { orderId: 'A-1002', total: 2400 });
  const dlq = app.get(DeadLetterService);
  for (let i = 0; i < 100 && (await dlq.count('order.placed')) < 2; i++) await sleep(100);

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  await page.goto(`http://127.0.0.1:${port}/_events`);
  await sleep(1200);
  for (let i = 0; i < 12; i++) {
    await bus.dispatch('order.placed', { orderId: `B-${2000 + i}`, total: 20 + i * 7 });
    if (i % 3 === 0) await bus.dispatch('user.registered', { userId: `u${i}` });
    await sleep(60);
  }
  // Tracked, inside a request's span: the rows show the trace id and what the warehouse app reported.
  for (const [orderId, express] of [
    ['B-2010', false],
    ['B-2011', true],
  ]) {
    await tracer.startActiveSpan('POST /orders/ship', async (span) => {
      await bus.dispatch('order.shipped', { orderId, express }, { trackRemote: true }).done;
      span.end();
    });
  }
  await sleep(3500);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out}`);
} finally {
  await browser?.close();
  await app?.close();
  await warehouse?.close();
  await redis.stop();
}
