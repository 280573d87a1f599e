import { Injectable, Module, type OnModuleInit } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainEvent, EventBus, EventBusClosedError, EventBusModule, EventError, OnEvent } from 'nestjs-event-bus';
import type { DispatchHandle } from 'nestjs-event-bus';
import { bootApp, deferred, sleep, type BootedApp } from '../support/boot-app';

@DomainEvent('life.started')
class Started {
  constructor(readonly by: string) {}
}

const received: string[] = [];

@Injectable()
class StartListener {
  @OnEvent(Started)
  onStarted(event: Started) {
    received.push(`sync:${event.by}`);
  }
  @OnEvent(Started, { async: true })
  async onStartedAsync(event: Started) {
    await sleep(1);
    received.push(`async:${event.by}`);
  }
}

/** Dispatches while the application is still being built. */
@Injectable()
class EarlyDispatcher implements OnModuleInit {
  readonly fromConstructor: DispatchHandle;
  fromInit: DispatchHandle | undefined;
  awaitedInInit: { errors: readonly EventError[] } | undefined;
  constructor(readonly bus: EventBus) {
    this.fromConstructor = bus.dispatch(new Started('constructor'));
  }
  async onModuleInit() {
    this.fromInit = this.bus.dispatch(new Started('onModuleInit'));
    this.awaitedInInit = await this.bus.dispatch(new Started('awaited-in-init'));
  }
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

describe('lifecycle', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
    received.length = 0;
  });

  it('listeners are attached when app.init() resolves', async () => {
    booted = await bootApp({ providers: [StartListener] });
    booted.bus.dispatch(new Started('after-init'));
    expect(received).toEqual(['sync:after-init']);
  });

  it('a dispatch before app.init() is queued, not lost, and its handle settles once listeners are attached', async () => {
    @Module({ imports: [EventBusModule.forRoot()], providers: [StartListener] })
    class AppModule {}
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    const bus = app.get(EventBus);
    const handle = bus.dispatch(new Started('early'));
    expect(received).toEqual([]);
    expect(handle.settled).toBe(false);
    await app.init();
    expect(received).toContain('sync:early');
    await expect(handle.wait({ timeoutMs: 5_000 })).resolves.toMatchObject({ errors: [] });
    expect(received).toEqual(['sync:early', 'async:early']);
    await app.close();
  });

  it("dispatches from a provider's constructor and onModuleInit (even awaited) are delivered", async () => {
    booted = await withDeadline(bootApp({ providers: [StartListener, EarlyDispatcher] }), 10_000, 'app.init()');
    const early = booted.app.get(EarlyDispatcher);
    await early.fromConstructor.wait({ timeoutMs: 5_000 });
    await early.fromInit!.wait({ timeoutMs: 5_000 });
    expect(early.awaitedInInit?.errors).toEqual([]);
    for (const by of ['constructor', 'onModuleInit', 'awaited-in-init']) {
      expect(received).toContain(`sync:${by}`);
      expect(received).toContain(`async:${by}`);
    }
  });

  it('works in a standalone application context (NestFactory.createApplicationContext)', async () => {
    @Module({ imports: [EventBusModule.forRoot()], providers: [StartListener] })
    class ContextModule {}
    const context = await NestFactory.createApplicationContext(ContextModule, { logger: false });
    await context.get(EventBus).dispatch(new Started('context'));
    expect(received).toEqual(['sync:context', 'async:context']);
    await context.close();
  });

  it('app.close() drains in-flight async listeners before it resolves', async () => {
    booted = await bootApp();
    let finished = false;
    booted.bus.registerListener({
      eventName: 'life.slow',
      options: { async: true },
      onEvent: async () => {
        await sleep(30);
        finished = true;
      },
    });
    const handle = booted.bus.dispatch('life.slow');
    await booted.close();
    booted = undefined;
    expect(finished).toBe(true);
    expect(handle.settled).toBe(true);
  });

  it('app.close() also drains a sync chain that is awaiting a promise', async () => {
    booted = await bootApp();
    const calls: string[] = [];
    booted.bus.registerListener(
      { eventName: 'life.chain', onEvent: () => sleep(20).then(() => void calls.push('first')) },
      { eventName: 'life.chain', onEvent: () => calls.push('second') },
    );
    booted.bus.dispatch('life.chain');
    await booted.close();
    booted = undefined;
    expect(calls).toEqual(['first', 'second']);
  });

  it('shutdownTimeoutMs bounds the drain: close() resolves while a listener still hangs', async () => {
    booted = await bootApp({}, { shutdownTimeoutMs: 50 });
    const gate = deferred();
    booted.bus.registerListener({ eventName: 'life.hang', options: { async: true }, onEvent: () => gate.promise });
    const handle = booted.bus.dispatch('life.hang');
    await withDeadline(booted.close(), 5_000, 'app.close() with shutdownTimeoutMs 50');
    booted = undefined;
    expect(handle.settled).toBe(false);
    // The hanging listener may still finish; its handle then settles normally.
    gate.resolve();
    await expect(handle.wait({ timeoutMs: 5_000 })).resolves.toMatchObject({ errors: [] });
  });

  it('close() is idempotent: bus.close() twice, then app.close(), all resolve', async () => {
    booted = await bootApp();
    const bus = booted.bus;
    const first = bus.close();
    const second = bus.close();
    await Promise.all([first, second]);
    await bus.close();
    await booted.close();
    booted = undefined;
  });

  it('a dispatch after close fails on its handle with EventBusClosedError as a publisher error, and no listener runs', async () => {
    booted = await bootApp({ providers: [StartListener] });
    const bus = booted.bus;
    const seen: EventError[] = [];
    bus.errors$.subscribe((e) => seen.push(e));
    await booted.close();
    booted = undefined;
    for (const handle of [bus.dispatch(new Started('late')), bus.dispatch('life.started', {})]) {
      expect(handle.settled).toBe(true);
      expect(handle.errors).toHaveLength(1);
      const [error] = handle.errors;
      expect(error).toBeInstanceOf(EventError);
      expect(error.listener).toBe('publisher');
      expect(error.eventName).toBe('life.started');
      expect(error.cause).toBeInstanceOf(EventBusClosedError);
      await expect(handle.orThrow()).rejects.toThrow(/closed/);
    }
    await sleep(5);
    expect(received).toEqual([]);
    // errors$ completed on close; getErrors() still answers and stays bounded.
    expect(seen).toEqual([]);
    expect(bus.getErrors().map((e) => e.listener)).toEqual(['publisher', 'publisher']);
  });

  it('a dispatch while the bus is draining is refused with EventBusClosedError', async () => {
    booted = await bootApp();
    const bus = booted.bus;
    const gate = deferred();
    let lateCalls = 0;
    bus.registerListener(
      { eventName: 'life.drain', options: { async: true }, onEvent: () => gate.promise },
      { eventName: 'life.during', onEvent: () => lateCalls++ },
    );
    bus.dispatch('life.drain');
    await sleep(1);
    const closing = booted.close();
    booted = undefined;
    await sleep(1);
    const refused = bus.dispatch('life.during');
    expect(refused.errors.map((e) => e.cause)).toEqual([expect.any(EventBusClosedError)]);
    expect(lateCalls).toBe(0);
    gate.resolve();
    await closing;
  });

  it('registering a listener on a closed bus throws EventBusClosedError', async () => {
    booted = await bootApp();
    const bus = booted.bus;
    await booted.close();
    booted = undefined;
    expect(() => bus.registerListener({ eventName: 'life.x', onEvent: () => undefined })).toThrow(EventBusClosedError);
  });

  it('a dispatch queued before init fails with EventBusClosedError if the app closes without starting', async () => {
    @Module({ imports: [EventBusModule.forRoot()], providers: [StartListener] })
    class NeverStarted {}
    const moduleRef = await Test.createTestingModule({ imports: [NeverStarted] }).compile();
    const bus = moduleRef.get(EventBus);
    const handle = bus.dispatch(new Started('never'));
    await moduleRef.close();
    await expect(handle.wait({ timeoutMs: 2_000 })).resolves.toMatchObject({
      errors: [expect.objectContaining({ listener: 'publisher' })],
    });
    expect(handle.errors[0].cause).toBeInstanceOf(EventBusClosedError);
    expect(received).toEqual([]);
  });

  it('errors recorded before app.init() (a bad dispatch from a constructor) are still in getErrors() after it', async () => {
    @Injectable()
    class BadEarlyDispatcher {
      readonly handle: DispatchHandle;
      constructor(bus: EventBus) {
        this.handle = bus.dispatch({ not: 'an event' });
      }
    }
    booted = await bootApp({ providers: [BadEarlyDispatcher] }, { maxErrors: 5 });
    const early = booted.app.get(BadEarlyDispatcher).handle;
    expect(early.errors).toHaveLength(1);
    expect(booted.bus.getErrors()).toEqual(early.errors);
  });

  it('getErrors() stays bounded by maxErrors through and after close', async () => {
    booted = await bootApp({}, { maxErrors: 2 });
    const bus = booted.bus;
    await booted.close();
    booted = undefined;
    for (let i = 0; i < 5; i++) bus.dispatch('life.after', i);
    expect(bus.getErrors()).toHaveLength(2);
  });
});
