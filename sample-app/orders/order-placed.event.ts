import { DomainEvent } from 'nestjs-event-bus';

/** Versioned: sent as event_type 'order.placed.v2', routed by the name 'order.placed'. */
@DomainEvent('order.placed', { type: 'order.placed.v2' })
export class OrderPlaced {
  constructor(
    readonly orderId: string,
    readonly total: number,
  ) {}
}
