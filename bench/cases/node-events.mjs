// Floor: node:events EventEmitter.emit with 1 or 10 listeners (variant l1 | l10).
import { EventEmitter } from 'node:events';
import { payloadOf, runCase } from '../lib/harness.mjs';
import { listener, sink } from '../lib/work.mjs';

await runCase(({ variant }) => {
  const listeners = variant === 'l10' ? 10 : 1;
  const emitter = new EventEmitter();
  emitter.setMaxListeners(20);
  // Distinct function objects, as distinct listeners would be.
  for (let i = 0; i < listeners; i++) emitter.on('user.registered', (e) => listener(e));
  return {
    run(n, from) {
      for (let i = from; i < from + n; i++) emitter.emit('user.registered', payloadOf(i));
    },
    check: () => sink.calls,
  };
});
