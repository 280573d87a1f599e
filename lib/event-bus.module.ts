import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BusRuntime } from './core/bus-runtime';
import { DeadLetterService } from './dead-letters/dead-letter.service';
import { ListenerExplorer } from './discovery/listener.explorer';
import { ListenerMetadataAccessor } from './discovery/listener-metadata.accessor';
import { ASYNC_OPTIONS_TYPE, ConfigurableEventBusModule, OPTIONS_TYPE } from './event-bus.module-definition';
import { EventBus } from './event-bus';
import { EventBusHealthIndicator } from './health/event-bus-health.indicator';
import { EventRegistry } from './registry/event-registry';

/**
 * `EventBusModule.forRoot()` (memory driver) or `.forRoot({ driver: 'redis', redis: { url } })`;
 * `.forRootAsync({ imports, inject, useFactory })` for options from config. Global unless `isGlobal: false`.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [BusRuntime, EventBus, EventRegistry, ListenerMetadataAccessor, ListenerExplorer, DeadLetterService, EventBusHealthIndicator],
  // BusRuntime is exported for the package's own modules (the event board, health); it is not in the package root.
  exports: [EventBus, EventRegistry, DeadLetterService, BusRuntime, EventBusHealthIndicator],
})
export class EventBusModule extends ConfigurableEventBusModule {
  static override forRoot(options: typeof OPTIONS_TYPE = {}): DynamicModule {
    return super.forRoot(options);
  }

  static override forRootAsync(options: typeof ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }
}
