import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { EventBus } from 'nestjs-event-bus';
import { OrderPlaced } from './order-placed.event';

interface PlaceOrderDto {
  orderId?: string;
  total?: number;
}

@Controller('orders')
export class OrdersController {
  constructor(private readonly bus: EventBus) {}

  /** Fire-and-forget: answers at once; listener failures land on errors$ / GET /errors. */
  @Post()
  @HttpCode(202)
  place(@Body() body: PlaceOrderDto | undefined) {
    // A POST with no body (Express then leaves it undefined) places an order with made-up values.
    const orderId = body?.orderId ?? `o${Date.now()}`;
    const handle = this.bus.dispatch(new OrderPlaced(orderId, Number(body?.total ?? 0)));
    return { orderId, handleId: handle.id };
  }
}
