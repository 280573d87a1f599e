import { Controller, Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { DomainEvent, EventBus, EventBusModule, OnEvent } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';

@DomainEvent('user.registered')
class UserRegistered {
  constructor(readonly userId: string) {}
}

@Injectable()
class Audit {
  seen: string[] = [];
  @OnEvent(UserRegistered)
  onUser(e: UserRegistered) {
    this.seen.push(e.userId);
  }
  @OnEvent('user.*', { async: true })
  async any(e: UserRegistered) {
    await new Promise((r) => setTimeout(r, 5));
    this.seen.push('async:' + e.userId);
  }
}

@Controller()
class Ctl {
  constructor(readonly bus: EventBus) {}
}

@Module({ imports: [EventBusModule.forRoot()], providers: [Audit], controllers: [Ctl] })
class AppModule {}

describe('quick', () => {
  it('works', async () => {
    const mod = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = mod.createNestApplication();
    await app.init();
    const bus = app.get(Ctl).bus;
    const h = bus.dispatch(new UserRegistered('u1'));
    expect(app.get(Audit).seen).toEqual(['u1']);
    const r = await h;
    expect(r.errors).toEqual([]);
    expect(app.get(Audit).seen).toEqual(['u1', 'async:u1']);
    await app.close();
  });
});
