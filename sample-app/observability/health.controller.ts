import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { EventBusHealthIndicator } from 'nestjs-event-bus';

/** GET /health: Terminus's report with the event bus in it (503 when the bus is down). */
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly bus: EventBusHealthIndicator,
  ) {}

  @Get()
  @HealthCheck()
  check(): ReturnType<HealthCheckService['check']> {
    return this.health.check([() => this.bus.isHealthy('event-bus', { maxDeadLetters: 100 })]);
  }
}
