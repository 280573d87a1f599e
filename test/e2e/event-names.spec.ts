import { Injectable, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventBusModule, EventError, InvalidEventError, OnEvent } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { readyStandaloneBus } from '../support/standalone-bus';

describe('event names: one rule on every driver', () => {
  const invalid: Array<[string, RegExp]> = [
    [
      'user registered',
      /cannot dispatch an event named 'user registered': an event name cannot contain whitespace or control characters \(found " " at 4\)/,
    ],
    ['user.registered\r\nQUIT', /found "\\r" at 15/],
    [
      'x'.repeat(10_000),
      /cannot dispatch an event named 'x{60}…' \(10000 characters\): an event name has at most 255 characters \(got 10000\)/,
    ],
    ['user.*', /'\*' is for listener patterns/],
    ['', /an event name must not be empty/],
  ];

  for (const [name, message] of invalid) {
    it(`memory driver: refuses ${JSON.stringify(name.slice(0, 30))} at dispatch, before any listener, with InvalidEventError saying why`, async () => {
      const { bus } = await readyStandaloneBus();
      const calls: string[] = [];
      bus.registerListener({ eventName: '**', onEvent: () => void calls.push('any') });
      const handle = bus.dispatch(name, { a: 1 });
      expect(handle.settled).toBe(true);
      const { errors } = await handle;
      expect(errors).toHaveLength(1);
      expect(errors[0]).toBeInstanceOf(EventError);
      expect(errors[0]!.listener).toBe('publisher');
      expect(errors[0]!.cause).toBeInstanceOf(InvalidEventError);
      expect((errors[0]!.cause as Error).message).toMatch(message);
      expect(calls).toEqual([]);
      expect(bus.getErrors()).toHaveLength(1);
      // The same name keeps being refused (nothing about it is cached as valid).
      expect((await bus.dispatch(name)).errors).toHaveLength(1);
      await bus.close();
    });
  }

  it('a valid name is still routed after invalid ones, and wildcards match it', async () => {
    const { bus } = await readyStandaloneBus();
    const seen: string[] = [];
    bus.registerListener({ eventName: 'user.*', onEvent: (e) => void seen.push(String((e as { n: number }).n)) });
    await bus.dispatch('user a', { n: 0 });
    expect((await bus.dispatch('user.a', { n: 1 })).errors).toEqual([]);
    expect(seen).toEqual(['1']);
    await bus.close();
  });

  it('refuses a listener on a name nobody can dispatch, naming the problem', async () => {
    const { bus } = await readyStandaloneBus();
    expect(() => bus.registerListener({ eventName: 'user registered', onEvent: () => undefined })).toThrow(
      'registerListener(): invalid event name \'user registered\': an event name cannot contain whitespace or control characters (found " " at 4)',
    );
    expect(() => bus.registerListener({ eventName: 'user.* ', onEvent: () => undefined })).toThrow(/whitespace/);
    expect(() => bus.registerListener({ eventName: 'user.**', onEvent: () => undefined })).not.toThrow();
    await bus.close();
  });

  it('a decorated listener on an invalid name fails app start-up', async () => {
    @Injectable()
    class BadListener {
      @OnEvent('order\ncreated')
      handle(): void {}
    }
    @Module({ imports: [EventBusModule.forRoot()], providers: [BadListener] })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await expect(app.init()).rejects.toThrow(/invalid event name 'order\ncreated': an event name cannot contain whitespace/);
    await app.close().catch(() => undefined);
  });
});
