import 'reflect-metadata';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { EventBus, DispatchHandle } = require('nestjs-event-bus');
const bus = new EventBus({});
await bus.start(); bus.markReady();
let c = 0;
bus.registerListener({ eventName: 'user.registered', onEvent: (e) => { c += e.n; } });
const p = { userId: 'u1', n: 1 };
const variants = {
  handleRelease: (i) => { const h = new DispatchHandle('x', bus); h._release(); return h; },
  dispatchNobody: (i) => bus.dispatch('nobody', p),
  dispatch1: (i) => bus.dispatch('user.registered', p),
};
for (const [name, f] of Object.entries(variants)) {
  for (let i = 0; i < 50000; i++) f(i);
  const ds = [];
  for (let b = 0; b < 20; b++) {
    gc(); const h = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) f(i);
    ds.push(process.memoryUsage().heapUsed - h);
  }
  ds.sort((a,b)=>a-b);
  console.log(name, ds[10] / 1000);
}
