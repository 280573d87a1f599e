import { EventBus } from 'nestjs-event-bus';
import { afterEach, describe, expect, it } from 'vitest';
import { bootApp, type BootedApp } from '../support/boot-app';

describe('removing a listener mid-dispatch (go-events broadcaster defect) skips or duplicates none of the others', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (providers: Array<new (...args: never[]) => unknown> = []): Promise<EventBus> => {
    booted = await bootApp({ providers });
    return booted.bus;
  };
  it('a sync listener ending another listener of the same event mid-dispatch: every remaining one runs exactly once', async () => {
    const bus = await boot();
    const calls: string[] = [];
    bus.registerListener({ eventName: 'gap.bc', name: 'first', onEvent: () => void calls.push('first') });
    const second = bus.observe('gap.bc').subscribe(() => calls.push('second'));
    bus.registerListener({
      eventName: 'gap.bc',
      name: 'remover',
      onEvent: () => {
        calls.push('remover');
        third.unsubscribe();
      },
    });
    const third = bus.observe('gap.bc').subscribe(() => calls.push('third'));
    bus.registerListener({ eventName: 'gap.bc', name: 'fourth', onEvent: () => void calls.push('fourth') });
    bus.registerListener({ eventName: 'gap.**', name: 'wild', onEvent: () => void calls.push('wild') });

    const handle = bus.dispatch('gap.bc');
    expect(handle.settled).toBe(true);
    // 'third' was removed before its turn: skipped; everyone else once, in order.
    expect(calls).toEqual(['first', 'second', 'remover', 'fourth', 'wild']);

    calls.length = 0;
    second.unsubscribe();
    await bus.dispatch('gap.bc');
    expect(calls).toEqual(['first', 'remover', 'fourth', 'wild']);
  });

  it('async listeners: removing one before they start skips only it, and the handle settles', async () => {
    const bus = await boot();
    const calls: string[] = [];
    bus.registerListener({ eventName: 'gap.abc', options: { async: true }, onEvent: () => void calls.push('a1') });
    const gone = bus.observe('gap.abc').subscribe(() => calls.push('observer'));
    bus.registerListener({ eventName: 'gap.abc', options: { async: true }, onEvent: () => void calls.push('a2') });
    bus.registerListener({ eventName: 'gap.abc', onEvent: () => gone.unsubscribe() });
    // The observer is sync: it runs inline before the remover; the async ones run after.
    await bus.dispatch('gap.abc').wait({ timeoutMs: 5_000 });
    expect(calls.sort()).toEqual(['a1', 'a2', 'observer']);
    calls.length = 0;
    await bus.dispatch('gap.abc').wait({ timeoutMs: 5_000 });
    expect(calls.sort()).toEqual(['a1', 'a2']);
  });
});
