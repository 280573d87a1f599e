import type { EventBusDriver } from '../interfaces/event-bus-driver.interface';
import type { DriverName, RedisDriverOptions, StreamsDriverOptions } from '../interfaces/event-bus-options.interface';

/** Module options after validation, with defaults filled in. */
export interface ResolvedEventBusOptions {
  readonly driver: DriverName | EventBusDriver;
  readonly redis: RedisDriverOptions & {
    readonly channelPrefix: string;
    readonly maxEventSize: number;
    readonly maxEventDepth: number;
    readonly publishTimeoutMs: number;
  };
  readonly streams: StreamsDriverOptions;
  readonly maxErrors: number;
  readonly shutdownTimeoutMs: number;
  readonly strictTypes: boolean;
  readonly tracking: { readonly maxInFlight: number; readonly reportStacks: boolean };
  readonly logErrors: boolean;
}
