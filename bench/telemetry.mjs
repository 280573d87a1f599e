#!/usr/bin/env node
// node bench/telemetry.mjs [--n 200000] — what telemetry costs per dispatch and per listener call.
//
// Memory driver, Nest application context, one fresh Node process per configuration (OpenTelemetry's
// globals are per process). Each process times N fire-and-forget dispatch() calls to 0 listeners
// (the cost per dispatch) and to 1 sync listener (per dispatch + one listener call), in batches of
// 1000 with the event loop turned between them (a warm-up pass, then a timed one); the
// listener-call cost is the difference. Configurations: telemetry off; tracing with the
// SDK's TracerProvider and a no-op exporter (SimpleSpanProcessor → exporter that drops); tracing with
// the in-memory exporter (reset between batches); metrics with the SDK's MeterProvider (no reader
// collecting during the run); tracing + metrics. Runs on the built dist/ (npm run build first).
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nIndex = process.argv.indexOf('--n');
const N = nIndex > 0 ? Number(process.argv[nIndex + 1]) : 200_000;

const CONFIGS = [
  ['off', {}],
  ['tracing, no-op exporter', { tracing: true, exporter: 'noop' }],
  ['tracing, in-memory exporter', { tracing: true, exporter: 'memory' }],
  ['metrics', { metrics: true }],
  ['tracing (no-op exporter) + metrics', { tracing: true, metrics: true, exporter: 'noop' }],
];

const child = (config) => `
require('reflect-metadata');
const { Injectable, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const config = ${JSON.stringify(config)};
let memory;
if (config.tracing || config.metrics) {
  const api = require('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
  api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  if (config.tracing) {
    const sdk = require('@opentelemetry/sdk-trace');
    memory = new sdk.InMemorySpanExporter();
    const noop = { export: (spans, done) => done({ code: 0 }), shutdown: async () => {} };
    const exporter = config.exporter === 'memory' ? memory : noop;
    api.trace.setGlobalTracerProvider(new sdk.TracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor({ exporter })] }));
  }
  if (config.metrics) {
    const { MeterProvider } = require('@opentelemetry/sdk-metrics');
    api.metrics.setGlobalMeterProvider(new MeterProvider());
  }
}
const pkg = require(${JSON.stringify(join(root, 'dist/index.js'))});
let calls = 0;
class L { handle() { calls++; } }
pkg.OnEvent('one')(L.prototype, 'handle', Object.getOwnPropertyDescriptor(L.prototype, 'handle'));
Injectable()(L);
class AppModule {}
const telemetry = { tracing: !!config.tracing, metrics: !!config.metrics };
Module({ imports: [pkg.EventBusModule.forRoot({ telemetry })], providers: [L] })(AppModule);
(async () => {
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const bus = app.get(pkg.EventBus);
  const payload = { userId: 'u1', n: 0 };
  // Batches of 1000 dispatches, the event loop turned between batches (exports settle as they
  // would under steady load); only the dispatch loops are timed. The two names alternate.
  const totals = { none: 0, one: 0 };
  const BATCH = 1000;
  const batches = Math.ceil(${N} / BATCH);
  for (let round = 0; round < 2; round++) {
    for (let b = 0; b < batches; b++) {
      for (const name of ['none', 'one']) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < BATCH; i++) bus.dispatch(name, payload);
        if (round === 1) totals[name] += Number(process.hrtime.bigint() - t0);
        await new Promise((r) => setImmediate(r));
      }
      memory?.reset();
    }
  }
  const none = totals.none / (batches * BATCH);
  const one = totals.one / (batches * BATCH);
  await bus.wait();
  if (calls !== 2 * Math.ceil(${N} / 1000) * 1000) throw new Error('listener calls: ' + calls);
  await app.close();
  process.stdout.write(JSON.stringify({ none, one }));
})().catch((e) => { console.error(e); process.exit(1); });
`;

const rows = [];
for (const [name, config] of CONFIGS) {
  const out = JSON.parse(execFileSync(process.execPath, ['-e', child(config)], { cwd: root, encoding: 'utf8', timeout: 300_000 }));
  rows.push({ name, ...out });
}
const base = rows[0];
console.log(`N = ${N} dispatches per case (batches of 1000), mean ns per call\n`);
console.log('| telemetry | dispatch, 0 listeners (ns) | dispatch, 1 sync listener (ns) | added per dispatch (ns) | added per listener call (ns) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) {
  const perDispatch = r.none - base.none;
  const perCall = r.one - r.none - (base.one - base.none);
  console.log(`| ${r.name} | ${r.none.toFixed(0)} | ${r.one.toFixed(0)} | ${r === base ? '—' : perDispatch.toFixed(0)} | ${r === base ? '—' : perCall.toFixed(0)} |`);
}
