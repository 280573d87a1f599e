import { Injectable } from '@nestjs/common';
import { OnEvent } from 'nestjs-event-bus';
import { ReceivedEvents } from '../events/received-events.service';

/**
 * Wildcard listener: every order.* event. Not provided on redis-streams, which refuses wildcard
 * listeners at start-up (a stream is one event name).
 */
@Injectable()
export class OrderTraceListener {
  constructor(private readonly received: ReceivedEvents) {}

  @OnEvent('order.*')
  trace(event: unknown): void {
    this.received.record('OrderTraceListener.trace', 'order.*', event);
  }
}
