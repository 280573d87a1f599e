import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import * as api from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';

describe('public API from the package root only', () => {
  it('exports every class the contract names, and every error class extends Error', () => {
    const classes = [
      'EventBus',
      'EventBusModule',
      'OnEvent',
      'DomainEvent',
      'EventRegistry',
      'DeadLetterService',
      'DispatchHandle',
      'MemoryDriver',
    ];
    const errors = [
      'EventError',
      'DispatchFailedError',
      'DispatchTimeoutError',
      'EventBusClosedError',
      'EventTooLargeError',
      'EventSerializationError',
      'DriverUnavailableError',
      'MessageRejectedError',
      'ListenerTimeoutError',
      'QueueFullError',
      'BreakerOpenError',
      'DuplicateEventTypeError',
      'InvalidOptionsError',
      'InvalidEventError',
      'SubscriberDisconnectedError',
    ];
    const exported = api as unknown as Record<string, unknown>;
    for (const name of [...classes, ...errors]) expect(typeof exported[name], name).toBe('function');
    for (const name of errors) {
      const cls = exported[name] as { prototype: unknown };
      expect(cls.prototype instanceof Error, `${name} extends Error`).toBe(true);
    }
  });

  it('deep imports into the built package are refused by its exports map', () => {
    const requireFromRoot = createRequire(resolve(__dirname, '../../package.json'));
    expect(() => requireFromRoot.resolve('nestjs-event-bus/dist/event-bus')).toThrow(
      expect.objectContaining({ code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }),
    );
    expect(() => requireFromRoot.resolve('nestjs-event-bus/lib/event-bus')).toThrow(
      expect.objectContaining({ code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' }),
    );
  });
});
