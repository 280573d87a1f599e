// eventemitter2: emit with 1 or 10 listeners (emit1 | emit10), sequential await emitAsync (emitAsync1).
import { payloadOf, runCase } from '../lib/harness.mjs';
import { require } from '../lib/nest.mjs';
import { listener, sink } from '../lib/work.mjs';

const { EventEmitter2 } = require('eventemitter2');

await runCase(({ variant }) => {
  const listeners = variant === 'emit10' ? 10 : 1;
  const emitter = new EventEmitter2({ maxListeners: 20 });
  for (let i = 0; i < listeners; i++) emitter.on('user.registered', (e) => listener(e));
  if (variant === 'emitAsync1') {
    return {
      async run(n, from) {
        for (let i = from; i < from + n; i++) await emitter.emitAsync('user.registered', payloadOf(i));
      },
      check: () => sink.calls,
    };
  }
  return {
    run(n, from) {
      for (let i = from; i < from + n; i++) emitter.emit('user.registered', payloadOf(i));
    },
    check: () => sink.calls,
  };
});
