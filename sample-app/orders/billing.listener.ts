import { Injectable } from '@nestjs/common';
import { OnEvent } from 'nestjs-event-bus';
import { ReceivedEvents } from '../events/received-events.service';
import { OrderPlaced } from './order-placed.event';

@Injectable()
export class BillingListener {
  constructor(private readonly received: ReceivedEvents) {}

  /** Async, with a filter: free orders are not billed (and are not errors). */
  @OnEvent(OrderPlaced, { async: true, filter: (event: OrderPlaced) => event.total > 0 })
  async charge(event: OrderPlaced): Promise<void> {
    if (event.total > 10_000) throw new Error(`order ${event.orderId}: total ${event.total} needs manual approval`);
    this.received.record('BillingListener.charge', 'order.placed', { orderId: event.orderId, total: event.total });
  }
}
