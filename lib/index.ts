export { DomainEvent, type DomainEventOptions } from './decorators/domain-event.decorator';
export { OnEvent, type OnEventMetadata } from './decorators/on-event.decorator';
export type { DeadLetter, ListDeadLettersOptions } from './dead-letters/dead-letter.interface';
export { DeadLetterService } from './dead-letters/dead-letter.service';
export { DispatchHandle, type DispatchResult, type WaitOptions } from './dispatch/dispatch-handle';
export { MemoryDriver } from './drivers/memory.driver';
export * from './errors';
export { EventBus } from './event-bus';
export { MODULE_OPTIONS_TOKEN as EVENT_BUS_OPTIONS } from './event-bus.module-definition';
export { EventBusModule } from './event-bus.module';
export {
  EventBusHealthIndicator,
  type EventBusHealthDetails,
  type EventBusHealthGroup,
  type EventBusHealthLimits,
  type EventBusHealthResult,
} from './health/event-bus-health.indicator';
export type * from './interfaces/event-bus-driver.interface';
export type * from './interfaces/event-bus-options.interface';
export type * from './interfaces/event-bus-stats.interface';
export type * from './interfaces/event-class.interface';
export type * from './interfaces/event-envelope.interface';
export type * from './interfaces/listener-options.interface';
export type * from './interfaces/programmatic-listener.interface';
export { EventRegistry } from './registry/event-registry';
export type { EventKey } from './routing/event-key';
export type * from './board/board-source.interface';
export type { BoardGuard, BoardGuardFunction, EventBoardOptions } from './board/event-board-options';
export { EventBoardModule } from './board/event-board.module';
export type { DispatchOptions, ListenerOutcome } from './tracking/listener-outcome';
export type { OutcomeToReport, OutgoingReport, TrackingHooks, TrackingSink, TrackingTransport } from './tracking/tracking-transport';
export { EventRecorder, type RecorderTarget, type WaitForOptions } from './testing/event-recorder';
