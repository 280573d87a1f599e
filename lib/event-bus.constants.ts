export const EVENT_LISTENER_METADATA = 'nestjs-event-bus:listener';
export const DOMAIN_EVENT_METADATA = 'nestjs-event-bus:domain-event';

// Every default of the module's options, once (the streams driver keeps its own beside its options).
export const DEFAULT_CHANNEL_PREFIX = 'goevent:';
export const DEFAULT_MAX_EVENT_SIZE = 1024 * 1024;
export const DEFAULT_PUBLISH_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_ERRORS = 1000;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 10_000;
export const DEFAULT_STRICT_TYPES = false;

/** How long one read of consumer group state is reused by the telemetry gauges (ms). */
export const DEFAULT_GROUP_STATS_CACHE_MS = 5000;
