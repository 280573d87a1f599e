import { Injectable, Module, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DomainEvent, EventBus, EventBusModule, OnEvent, type EventBusModuleOptions } from 'nestjs-event-bus';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { AppModule as SampleAppModule } from '../../sample-app/app.module';

@DomainEvent('log.order.placed')
class OrderPlaced {
  constructor(readonly orderId: string) {}
}

@Injectable()
class FailingMailer {
  @OnEvent(OrderPlaced)
  send(event: OrderPlaced): void {
    throw new Error(`smtp refused ${event.orderId}`);
  }
}

/** Every line the app logs, by level and context. */
class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context?: string; stack?: string }> = [];
  log(message: string, context?: string): void {
    this.lines.push({ level: 'log', message, context });
  }
  error(message: string, stack?: string, context?: string): void {
    this.lines.push({ level: 'error', message, stack, context });
  }
  warn(message: string, context?: string): void {
    this.lines.push({ level: 'warn', message, context });
  }
  debug(): void {}
  verbose(): void {}
  fromBus(): Array<{ level: string; message: string; stack?: string }> {
    return this.lines.filter((l) => l.context === 'EventBus');
  }
}

describe('errors are logged through Nest’s Logger by default', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  async function boot(options: EventBusModuleOptions = {}, imports: unknown[] = []) {
    @Module({ imports: [EventBusModule.forRoot(options), ...(imports as [])], providers: [FailingMailer] })
    class AppModule {}
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger });
    await app.init();
    close = () => app.close();
    return { app, bus: app.get(EventBus), logger };
  }

  it('a listener failing in a fire-and-forget dispatch is logged once, with its stack', async () => {
    const { bus, logger } = await boot();
    bus.dispatch(new OrderPlaced('o1'));
    const lines = logger.fromBus().filter((l) => l.level === 'error');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.message).toBe("event 'log.order.placed' listener 'FailingMailer.send': smtp refused o1");
    expect(lines[0]!.stack).toMatch(/smtp refused o1\n\s+at FailingMailer\./);
  });

  it('a dispatched object that is not a @DomainEvent is logged, saying what to do', async () => {
    const { bus, logger } = await boot();
    class NotAnEvent {}
    bus.dispatch(new NotAnEvent());
    const [line] = logger.fromBus().filter((l) => l.level === 'error');
    expect(line!.message).toMatch(
      /listener 'publisher': dispatch\(\) needs an instance of a @DomainEvent class.*decorate it with @DomainEvent/,
    );
  });

  it('a flood is rate-limited: a few lines, then one summary with the count (written at the latest on close)', async () => {
    const { app, bus, logger } = await boot();
    for (let i = 0; i < 1_000; i++) bus.dispatch(new OrderPlaced(`o${i}`));
    expect(logger.fromBus().filter((l) => l.level === 'error')).toHaveLength(5);
    await app.close();
    close = undefined;
    const summary = logger.fromBus().filter((l) => l.level === 'warn' && /more errors like this/.test(l.message));
    expect(summary).toHaveLength(1);
    expect(summary[0]!.message).toMatch(
      /^995 more errors like this in the last 10 s \(not logged one by one\): event 'log.order.placed' listener 'FailingMailer.send': smtp refused o999$/,
    );
  });

  it('logErrors: false logs nothing (errors are still on errors$ and getErrors())', async () => {
    const { bus, logger } = await boot({ logErrors: false });
    const { errors } = await bus.dispatch(new OrderPlaced('o1'));
    expect(errors).toHaveLength(1);
    expect(bus.getErrors()).toHaveLength(1);
    expect(logger.fromBus().filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
  });

  it('logErrors must be a boolean', async () => {
    await expect(boot({ logErrors: 'yes' as unknown as boolean })).rejects.toThrow(/'logErrors' must be true or false \(got 'yes'\)/);
  });

  it("the sample app's failing listener shows in its log", async () => {
    delete process.env.REDIS_URL;
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({ imports: [SampleAppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger });
    await app.init();
    close = () => app.close();
    await request(app.getHttpServer()).post('/users').send({ userId: 'u9', email: 'x@blocked.example' }).expect(201);
    const lines = logger.fromBus().filter((l) => l.level === 'error');
    expect(lines.map((l) => l.message)).toContain(
      "event 'user.registered' listener 'AuditListener.onUserRegistered': audit refused x@blocked.example",
    );
  });
});
