import type { ListenerOptions } from '../interfaces/listener-options.interface';
import type { ListenerCall } from '../routing/listener-entry';

/** How policies report what is not an error on a handle (retries) and what they count. */
export interface DeliveryHooks {
  /** An attempt failed and another follows after `delayMs`. */
  retrying(listener: string, attempt: number, error: unknown, delayMs: number): void;
}

export interface DeliveryPipelineSettings {
  /** False on durable drivers: their retries are redeliveries, not in-process loops. */
  readonly retryInProcess: boolean;
}

/** A listener call wrapped in its delivery policies (§9). */
export interface DeliveryPipeline {
  readonly call: ListenerCall;
  /** Fails what is queued with `EventBusClosedError` and stops timers. */
  close(): Promise<void>;
}

const NOTHING_TO_CLOSE = (): Promise<void> => Promise.resolve();

/**
 * Wraps `call` in the listener's policies. With no policy it returns `call` itself, so the
 * default path costs nothing.
 */
export function createDeliveryPipeline(
  call: ListenerCall,
  options: ListenerOptions,
  _listener: string,
  _hooks: DeliveryHooks,
  _settings: DeliveryPipelineSettings,
): DeliveryPipeline {
  let wrapped = call;
  const filter = options.filter;
  if (filter !== undefined) {
    const inner = wrapped;
    wrapped = (event, meta) => (filter(event) ? inner(event, meta) : undefined);
  }
  return { call: wrapped, close: NOTHING_TO_CLOSE };
}
