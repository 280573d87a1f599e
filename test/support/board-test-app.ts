import { Injectable, Module, type INestApplication, type ModuleMetadata } from '@nestjs/common';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  DomainEvent,
  EventBoardModule,
  EventBus,
  EventBusModule,
  OnEvent,
  type EventBoardOptions,
  type EventBusModuleOptions,
} from 'nestjs-event-bus';

@DomainEvent('order.placed')
export class OrderPlaced {
  constructor(
    readonly orderId: string,
    /** A secret the board must not show unless `showPayloads` is on. */
    readonly cardNumber: string,
    readonly fail = false,
  ) {}
}

@Injectable()
export class Billing {
  @OnEvent(OrderPlaced)
  charge(event: OrderPlaced) {
    if (event.fail) throw new Error(`card declined for ${event.orderId}`);
  }

  @OnEvent(OrderPlaced, { async: true, breaker: { threshold: 5, cooldownMs: 1_000 }, timeoutMs: 2_000 })
  async receipt() {
    return undefined;
  }
}

@Injectable()
export class Audit {
  @OnEvent('user.*')
  log() {}
}

export interface BoardApp {
  app: INestApplication;
  bus: EventBus;
  /** `http://127.0.0.1:<port>` */
  url: string;
  close(): Promise<void>;
}

/** A real Nest HTTP app on 127.0.0.1 with the bus, the board and `metadata`, on Express or Fastify. */
export async function bootBoardApp(
  board: EventBoardOptions = {},
  options: { platform?: 'express' | 'fastify'; bus?: EventBusModuleOptions; metadata?: ModuleMetadata } = {},
): Promise<BoardApp> {
  const metadata = options.metadata ?? { providers: [Billing, Audit] };
  @Module({
    ...metadata,
    imports: [EventBusModule.forRoot(options.bus ?? {}), EventBoardModule.register(board), ...(metadata.imports ?? [])],
  })
  class BoardTestModule {}
  const moduleRef = await Test.createTestingModule({ imports: [BoardTestModule] }).compile();
  const app =
    options.platform === 'fastify'
      ? moduleRef.createNestApplication(new FastifyAdapter(), { logger: false })
      : moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return { app, bus: app.get(EventBus), url: `http://127.0.0.1:${address.port}`, close: () => app.close() };
}
