import { Controller, Inject, Injectable, Module, Scope } from '@nestjs/common';
import { REQUEST } from '@nestjs/core';
import { afterEach, describe, expect, it } from 'vitest';
import { DomainEvent, EventBus, OnEvent } from 'nestjs-event-bus';
import { bootApp, type BootedApp } from '../support/boot-app';

@DomainEvent('disc.ping')
class Ping {
  constructor(readonly n = 0) {}
}

const calls: string[] = [];

@Injectable()
class Audit {
  @OnEvent(Ping)
  onPing() {
    calls.push('Audit');
  }
}

class BuiltByFactory {
  constructor(readonly label: string) {}
  @OnEvent('disc.ping')
  onPing() {
    calls.push(`factory:${this.label}`);
  }
}

class GivenAsValue {
  @OnEvent('disc.ping')
  onPing() {
    calls.push('value');
  }
}

@Controller()
class PingController {
  @OnEvent(Ping)
  onPing() {
    calls.push('controller');
  }
}

let requestScopedBuilt = 0;
@Injectable({ scope: Scope.REQUEST })
class PerEventListener {
  readonly instance = ++requestScopedBuilt;
  constructor(@Inject(REQUEST) readonly request: unknown) {}
  @OnEvent(Ping)
  onPing(event: Ping) {
    calls.push(`request-scoped#${this.instance}:${event.n}`);
  }
}

/** Request-scoped only through its dependency. */
@Injectable()
class DependsOnRequestScoped {
  constructor(readonly inner: PerEventListener) {}
  @OnEvent('disc.implicit')
  onImplicit() {
    calls.push(`implicit#${this.inner.instance}`);
  }
}

let transientBuilt = 0;
@Injectable({ scope: Scope.TRANSIENT })
class TransientListener {
  readonly instance = ++transientBuilt;
  @OnEvent(Ping)
  onPing() {
    calls.push(`transient#${this.instance}`);
  }
}
@Injectable()
class TransientConsumerA {
  constructor(readonly listener: TransientListener) {}
}
@Injectable()
class TransientConsumerB {
  constructor(readonly listener: TransientListener) {}
}

class BaseListener {
  @OnEvent(Ping)
  onPing() {
    calls.push(`inherited:${this.constructor.name}`);
  }
}
@Injectable()
class InheritingListener extends BaseListener {}

@Injectable()
class DeepListener {
  @OnEvent(Ping)
  onPing() {
    calls.push('deep');
  }
}
@Module({ providers: [DeepListener] })
class DeepModule {}
@Module({ imports: [DeepModule] })
class MiddleModule {}

describe('listener discovery', () => {
  let booted: BootedApp[] = [];
  afterEach(async () => {
    await Promise.all(booted.map((b) => b.close()));
    booted = [];
    calls.length = 0;
  });
  const boot = async (...args: Parameters<typeof bootApp>): Promise<EventBus> => {
    const b = await bootApp(...args);
    booted.push(b);
    return b.bus;
  };

  it('an aliased provider (useExisting) is called once', async () => {
    const bus = await boot({ providers: [Audit, { provide: 'AUDIT_ALIAS', useExisting: Audit }] });
    bus.dispatch(new Ping());
    expect(calls).toEqual(['Audit']);
  });

  it('a factory provider returning an instance that another provider also holds is called once', async () => {
    const bus = await boot({ providers: [Audit, { provide: 'SAME_INSTANCE', useFactory: (a: Audit) => a, inject: [Audit] }] });
    bus.dispatch(new Ping());
    expect(calls).toEqual(['Audit']);
  });

  it('providers built with useFactory and given with useValue are discovered', async () => {
    const bus = await boot({
      providers: [
        { provide: BuiltByFactory, useFactory: () => new BuiltByFactory('made') },
        { provide: 'VALUE', useValue: new GivenAsValue() },
      ],
    });
    bus.dispatch(new Ping());
    expect(calls.sort()).toEqual(['factory:made', 'value']);
  });

  it('controller methods are listeners too', async () => {
    const bus = await boot({ controllers: [PingController] });
    bus.dispatch(new Ping());
    expect(calls).toEqual(['controller']);
  });

  it('providers of nested modules are discovered', async () => {
    const bus = await boot({ imports: [MiddleModule] });
    bus.dispatch(new Ping());
    expect(calls).toEqual(['deep']);
  });

  it('a request-scoped provider is resolved per event: a fresh instance for each one', async () => {
    const bus = await boot({ providers: [PerEventListener] });
    const builtBefore = requestScopedBuilt;
    await bus.dispatch(new Ping(1));
    await bus.dispatch(new Ping(2));
    expect(requestScopedBuilt - builtBefore).toBe(2);
    expect(calls).toEqual([`request-scoped#${builtBefore + 1}:1`, `request-scoped#${builtBefore + 2}:2`]);
  });

  it('a provider that is request-scoped through a dependency is resolved per event as well', async () => {
    const bus = await boot({ providers: [PerEventListener, DependsOnRequestScoped] });
    const builtBefore = requestScopedBuilt;
    await bus.dispatch('disc.implicit');
    await bus.dispatch('disc.implicit');
    expect(calls).toEqual([`implicit#${builtBefore + 1}`, `implicit#${builtBefore + 2}`]);
  });

  it('a request-scoped listener that fails reports Class.method on the handle', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class FailingPerEvent {
      @OnEvent('disc.fail')
      onFail() {
        throw new Error('scoped failure');
      }
    }
    const bus = await boot({ providers: [FailingPerEvent] });
    const { errors } = await bus.dispatch('disc.fail');
    expect(errors.map((e) => e.message)).toEqual(["event 'disc.fail' listener 'FailingPerEvent.onFail': scoped failure"]);
  });

  it('a transient provider is called once per event, on a constructed instance', async () => {
    const bus = await boot({ providers: [TransientListener, TransientConsumerA, TransientConsumerB] });
    bus.dispatch(new Ping());
    bus.dispatch(new Ping());
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatch(/^transient#\d+$/);
    expect(calls[1]).toBe(calls[0]);
  });

  it('a listener method inherited from a base class is discovered', async () => {
    const bus = await boot({ providers: [InheritingListener] });
    bus.dispatch(new Ping());
    expect(calls).toEqual(['inherited:InheritingListener']);
  });

  it('two Nest applications in one process have separate buses', async () => {
    const first = await boot({ providers: [Audit] });
    const second = await boot({ controllers: [PingController] });
    expect(first).not.toBe(second);
    first.dispatch(new Ping());
    expect(calls).toEqual(['Audit']);
    second.dispatch(new Ping());
    expect(calls).toEqual(['Audit', 'controller']);
    first.registerListener({ eventName: 'disc.only-first', onEvent: () => calls.push('first-only') });
    second.dispatch('disc.only-first');
    expect(calls).toEqual(['Audit', 'controller']);
    await booted[0].close();
    booted.shift();
    // Closing one leaves the other working.
    expect(second.dispatch(new Ping()).errors).toEqual([]);
    expect(calls).toEqual(['Audit', 'controller', 'controller']);
  });
});

/** What each @OnEvent method below was called with: `this`, and how many arguments. */
const received: Array<{ listener: string; self: unknown; args: number }> = [];

@Injectable()
class ArgumentsProbe {
  @OnEvent('disc.args')
  plain(...args: unknown[]) {
    received.push({ listener: 'plain', self: this, args: args.length });
  }

  @OnEvent('disc.args', { async: true })
  async later(...args: unknown[]) {
    received.push({ listener: 'later', self: this, args: args.length });
  }

  @OnEvent('disc.args', { retry: { attempts: 2 }, filter: () => true })
  withPolicies(...args: unknown[]) {
    received.push({ listener: 'withPolicies', self: this, args: args.length });
  }
}

describe('how a discovered listener method is called', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
    received.length = 0;
  });

  it('on its provider instance, with (event, meta) only: plain, recorded, tracked and with policies alike', async () => {
    booted = await bootApp({ providers: [ArgumentsProbe] });
    const { bus } = booted;
    const probe = booted.app.get(ArgumentsProbe);
    await bus.dispatch('disc.args', { n: 1 });
    // A recorder and a tracked dispatch watch each call (the bus then knows the event's name too).
    const recording = bus.record();
    await bus.dispatch('disc.args', { n: 2 });
    recording.stop();
    await bus.dispatch('disc.args', { n: 3 }, { trackRemote: true });
    expect(received).toHaveLength(9);
    for (const call of received) expect(call).toEqual({ listener: call.listener, self: probe, args: 2 });
  });
});
