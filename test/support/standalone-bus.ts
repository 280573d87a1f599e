import { EventBus } from 'nestjs-event-bus';
import type { EventBusModuleOptions } from 'nestjs-event-bus';
import { BusRuntime } from '../../lib/core/bus-runtime';

/** A bus without a Nest application: the runtime the module would build, and its facade. */
export function standaloneBus(options: EventBusModuleOptions = {}): { bus: EventBus; runtime: BusRuntime } {
  const runtime = new BusRuntime(options);
  return { bus: new EventBus(runtime), runtime };
}

/** Starts a standalone bus and opens it for dispatches (what the module's explorer does at init). */
export async function readyStandaloneBus(options: EventBusModuleOptions = {}): Promise<{ bus: EventBus; runtime: BusRuntime }> {
  const made = standaloneBus(options);
  await made.runtime.start();
  made.runtime.markReady();
  return made;
}

/** Resolves after the I/O phase of the event loop (every microtask before it has run). */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
