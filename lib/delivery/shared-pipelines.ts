import type { ListenerOptions } from '../interfaces/listener-options.interface';
import type { ListenerCall } from '../routing/listener-entry';
import { createDeliveryPipeline, type DeliveryHooks, type DeliveryPipeline, type DeliveryPipelineSettings } from './delivery-pipeline';

interface Shared {
  readonly pipeline: DeliveryPipeline;
  refs: number;
}

/**
 * One pipeline per listener, whatever number of events it is registered under: `@OnEvent(['a', 'b'],
 * { concurrency: 1 })` is one listener with one queue and one breaker, as "at most `concurrency` calls
 * of the listener" says. A listener is its call and its options object (the explorer and
 * `registerListener` pass the same pair for every key). Each registration holds a reference; the
 * pipeline closes when the last one is released.
 */
export class SharedPipelines {
  private readonly byOptions = new WeakMap<ListenerOptions, Map<ListenerCall, Shared>>();

  constructor(
    private readonly hooks: DeliveryHooks,
    private readonly settings: DeliveryPipelineSettings,
  ) {}

  /** The listener's pipeline; `close()` of what it returns releases this registration's reference. */
  acquire(call: ListenerCall, options: ListenerOptions, listener: string): DeliveryPipeline {
    let byCall = this.byOptions.get(options);
    if (byCall === undefined) this.byOptions.set(options, (byCall = new Map()));
    let shared = byCall.get(call);
    if (shared === undefined) {
      shared = { pipeline: createDeliveryPipeline(call, options, listener, this.hooks, this.settings), refs: 0 };
      byCall.set(call, shared);
    }
    shared.refs++;
    const owner = byCall;
    const held = shared;
    let released = false;
    return {
      call: held.pipeline.call,
      plain: held.pipeline.plain,
      close: () => {
        if (released) return Promise.resolve();
        released = true;
        if (--held.refs > 0) return Promise.resolve();
        if (owner.get(call) === held) owner.delete(call);
        return held.pipeline.close();
      },
    };
  }
}
