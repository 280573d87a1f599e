import 'reflect-metadata';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { EventBus } = require('nestjs-event-bus');
const bus = new EventBus({});
await bus.start(); bus.markReady();
const sink = { calls: 0, total: 0 };
function listener(e) { sink.calls++; sink.total += e.n; }
const inst = { handle0(e) { return listener(e); } };
const method = inst.handle0;
bus.addListener('user.registered', 'L.handle0', (event, meta) => method.call(inst, event, meta), {});
const N = Number(process.env.N ?? 5_000_000);
for (let r = 0; r < 5; r++) {
  const t = process.hrtime.bigint();
  for (let i = 0; i < N; i++) bus.dispatch('user.registered', { userId: 'u1', n: i });
  console.log(Number(process.hrtime.bigint() - t) / N, 'ns/op');
}
