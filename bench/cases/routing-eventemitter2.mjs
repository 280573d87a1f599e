// eventemitter2 with wildcard: true (the tree @nestjs/event-emitter runs on): the same listeners and
// event names as the routing case of this package (bench/lib/routing-workload.mjs).
import { payloadOf, runCase } from '../lib/harness.mjs';
import { require } from '../lib/nest.mjs';
import { keysOf, nameOf, parseVariant } from '../lib/routing-workload.mjs';
import { listener, sink } from '../lib/work.mjs';

const { EventEmitter2 } = require('eventemitter2');

await runCase(({ variant }) => {
  const workload = parseVariant(variant);
  const emitter = new EventEmitter2({ wildcard: true, delimiter: '.', maxListeners: 0 });
  for (const key of keysOf(workload)) emitter.on(key, (e) => listener(e));
  return {
    run(n, from) {
      for (let i = from; i < from + n; i++) emitter.emit(nameOf(workload, i), payloadOf(i));
    },
    check: () => ({ calls: sink.calls }),
  };
});
