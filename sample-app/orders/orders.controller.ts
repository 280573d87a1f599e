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

  /**
   * Tracked: answers once every listener the order reached — here and in every other replica or
   * service on the bus — has settled, with each one's outcome (or after `timeoutMs`, saying who did not answer).
   */
  @Post('tracked')
  @HttpCode(200)
  async placeTracked(@Body() body: PlaceOrderDto | undefined) {
    const orderId = body?.orderId ?? `o${Date.now()}`;
    const { id, outcomes, errors } = await this.bus.dispatch(new OrderPlaced(orderId, Number(body?.total ?? 0)), {
      trackRemote: { timeoutMs: 5_000 },
    });
    return {
      orderId,
      handleId: id,
      outcomes: outcomes.map(({ listener, origin, ok, attempts, durationMs, error }) => ({
        listener,
        origin,
        ok,
        attempts,
        durationMs: Math.round(durationMs * 100) / 100,
        ...(ok ? {} : { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
      })),
      errors: errors.map((e) => e.message),
    };
  }
}
