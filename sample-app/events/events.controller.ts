import { Controller, Delete, Get, HttpCode } from '@nestjs/common';
import { EventBus } from 'nestjs-event-bus';
import { ReceivedEvents } from './received-events.service';

@Controller()
export class EventsController {
  constructor(
    private readonly bus: EventBus,
    private readonly received: ReceivedEvents,
  ) {}

  /** What this process's listeners received. */
  @Get('received')
  list() {
    return { events: this.received.list() };
  }

  /** Recent listener and publisher errors (bounded by maxErrors). */
  @Get('errors')
  errors() {
    return {
      stats: this.bus.stats(),
      errors: this.bus.getErrors().map((e) => ({ eventName: e.eventName, listener: e.listener, handleId: e.handleId, message: e.message })),
    };
  }

  @Delete('errors')
  @HttpCode(204)
  clear(): void {
    this.bus.clearErrors();
  }
}
