import type { INestApplication, ModuleMetadata } from '@nestjs/common';
import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventBus, EventBusModule } from 'nestjs-event-bus';
import type { EventBusModuleOptions } from 'nestjs-event-bus';

export interface BootedApp {
  app: INestApplication;
  bus: EventBus;
  close(): Promise<void>;
}

/** Boots a real Nest application (logger off) with `EventBusModule.forRoot(options)` plus `metadata`. */
export async function bootApp(metadata: ModuleMetadata = {}, options: EventBusModuleOptions = {}): Promise<BootedApp> {
  @Module({ ...metadata, imports: [EventBusModule.forRoot(options), ...(metadata.imports ?? [])] })
  class TestAppModule {}
  const moduleRef = await Test.createTestingModule({ imports: [TestAppModule] }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return { app, bus: app.get(EventBus), close: () => app.close() };
}

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function, to hold a listener until a test lets it go. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void; reject: (reason: unknown) => void } {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
