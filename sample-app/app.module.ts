import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { EventBoardModule, EventBusModule, type EventBusModuleOptions } from 'nestjs-event-bus';
import { EventsController } from './events/events.controller';
import { HealthController } from './observability/health.controller';
import { ReceivedEvents } from './events/received-events.service';
import { BillingListener } from './orders/billing.listener';
import { OrdersController } from './orders/orders.controller';
import { OrderTraceListener } from './orders/order-trace.listener';
import { AuditListener } from './users/audit.listener';
import { UsersController } from './users/users.controller';
import { WelcomeEmailListener } from './users/welcome-email.listener';

/**
 * Memory driver by default; REDIS_URL switches to Redis (EVENT_BUS_DRIVER=redis-streams for streams).
 * OTEL_CONSOLE=1 turns tracing on (main.ts registers an SDK that prints spans).
 */
export function eventBusOptions(env: NodeJS.ProcessEnv = process.env): EventBusModuleOptions {
  const url = env.REDIS_URL;
  const telemetry = env.OTEL_CONSOLE === '1' ? { telemetry: { tracing: true } } : {};
  if (!url) return { driver: 'memory', ...telemetry };
  const driver = env.EVENT_BUS_DRIVER === 'redis-streams' ? 'redis-streams' : 'redis';
  return {
    driver,
    redis: { url, ...(env.EVENT_BUS_PREFIX ? { channelPrefix: env.EVENT_BUS_PREFIX } : {}) },
    ...(driver === 'redis-streams' ? { streams: { group: env.EVENT_BUS_GROUP ?? 'sample-app' } } : {}),
    ...telemetry,
  };
}

@Module({
  imports: [
    EventBusModule.forRootAsync({ useFactory: () => eventBusOptions() }),
    // The live event board at /_events: read-only, payloads hidden, loopback requests only (no guard).
    EventBoardModule.register({ path: '/_events', readOnly: true }),
    TerminusModule,
  ],
  controllers: [UsersController, OrdersController, EventsController, HealthController],
  providers: [
    ReceivedEvents,
    AuditListener,
    WelcomeEmailListener,
    BillingListener,
    // redis-streams has no wildcard listeners (one stream per event name).
    ...(eventBusOptions().driver === 'redis-streams' ? [] : [OrderTraceListener]),
  ],
})
export class AppModule {}
