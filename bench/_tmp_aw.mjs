import 'reflect-metadata';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { EventBus } = require('nestjs-event-bus');
const { EventEmitter2 } = require('eventemitter2');
const bus = new EventBus({});
await bus.start(); bus.markReady();
const sink = { calls: 0, total: 0 };
function listener(e) { sink.calls++; sink.total += e.n; }
const inst = { handle0(e) { return listener(e); } };
const method = inst.handle0;
bus.addListener('user.registered', 'L.handle0', (event, meta) => method.call(inst, event, meta), { async: true });
const ee = new EventEmitter2();
ee.on('user.registered', async (...args) => { try { return await listener(...args) } catch (e) { throw e } });
const N = Number(process.env.N ?? 1_000_000);
for (let r = 0; r < 4; r++) {
  let t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await bus.dispatch('user.registered', { userId: 'u1', n: i });
  const a = Number(process.hrtime.bigint() - t) / N;
  t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await ee.emitAsync('user.registered', { userId: 'u1', n: i });
  console.log('bus', a.toFixed(1), 'ee2-nestlike', (Number(process.hrtime.bigint() - t) / N).toFixed(1));
}
