import { describe, expect, it } from 'vitest';
import { DomainEvent, DuplicateEventTypeError, EventRegistry } from 'nestjs-event-bus';
import { getDomainEventMetadata } from '../../lib/decorators/domain-event.decorator';

describe('@DomainEvent and the registry', () => {
  it('registers a class under its name, and a versioned class under its type key', () => {
    @DomainEvent('reg.user.registered')
    class UserRegistered {}
    @DomainEvent('reg.order.created', { type: 'reg.order.created.v2' })
    class OrderCreatedV2 {}
    const registry = new EventRegistry();
    expect(registry.isRegistered('reg.user.registered')).toBe(true);
    expect(registry.resolve('reg.user.registered')).toBe(UserRegistered);
    expect(registry.resolve('reg.order.created.v2')).toBe(OrderCreatedV2);
    expect(registry.isRegistered('reg.order.created')).toBe(false);
    expect(getDomainEventMetadata(OrderCreatedV2)).toEqual({ name: 'reg.order.created', type: 'reg.order.created.v2' });
  });

  it('throws when a different class claims a taken key, naming both classes', () => {
    @DomainEvent('reg.dup')
    class FirstOwner {}
    let error: unknown;
    try {
      @DomainEvent('reg.dup')
      class SecondOwner {}
      void SecondOwner;
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DuplicateEventTypeError);
    expect((error as Error).message).toContain('FirstOwner');
    expect((error as Error).message).toContain('SecondOwner');
    expect((error as Error).message).toContain("'reg.dup'");
    expect(new EventRegistry().resolve('reg.dup')).toBe(FirstOwner);
  });

  it('lets two versions share an event name under different type keys', () => {
    @DomainEvent('reg.shared', { type: 'reg.shared.v1' })
    class V1 {}
    @DomainEvent('reg.shared', { type: 'reg.shared.v2' })
    class V2 {}
    const registry = new EventRegistry();
    expect(registry.resolve('reg.shared.v1')).toBe(V1);
    expect(registry.resolve('reg.shared.v2')).toBe(V2);
  });

  it('refuses an empty event name', () => {
    expect(() => DomainEvent('')).toThrow(/non-empty event name/);
  });
});

describe('EventRegistry', () => {
  it('register() adds a plain class under a given type', () => {
    class Imported {}
    const registry = new EventRegistry();
    expect(registry.isRegistered('reg.imported')).toBe(false);
    expect(registry.resolve('reg.imported')).toBeUndefined();
    registry.register(Imported, 'reg.imported');
    expect(registry.isRegistered('reg.imported')).toBe(true);
    expect(registry.resolve('reg.imported')).toBe(Imported);
  });

  it('register() without a type uses the class name', () => {
    class RegByName {}
    const registry = new EventRegistry();
    registry.register(RegByName);
    expect(registry.resolve('RegByName')).toBe(RegByName);
  });

  it('register() of the same class twice is fine; of another class under a taken key throws naming both', () => {
    class Keeper {}
    class Intruder {}
    const registry = new EventRegistry();
    registry.register(Keeper, 'reg.taken');
    expect(() => registry.register(Keeper, 'reg.taken')).not.toThrow();
    expect(() => registry.register(Intruder, 'reg.taken')).toThrow(DuplicateEventTypeError);
    expect(() => registry.register(Intruder, 'reg.taken')).toThrow(/Keeper.*Intruder/);
  });

  it('is one process registry: every EventRegistry instance sees the same classes', () => {
    class Shared {}
    new EventRegistry().register(Shared, 'reg.process-wide');
    expect(new EventRegistry().resolve('reg.process-wide')).toBe(Shared);
  });
});
