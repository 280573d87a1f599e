import { DispatchHandle, EventBus, EventError } from 'nestjs-event-bus';
import { afterEach, describe, expect, it } from 'vitest';
import { bootApp, type BootedApp } from '../support/boot-app';

describe('dispatch handles', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (providers: Array<new (...args: never[]) => unknown> = []): Promise<EventBus> => {
    booted = await bootApp({ providers });
    return booted.bus;
  };
  it('await handle resolves to exactly { id, eventName, errors }, with id the handle id', async () => {
    const bus = await boot();
    bus.registerListener({ eventName: 'gap.shape', onEvent: () => undefined });
    const handle = bus.dispatch('gap.shape', { n: 1 });
    expect(handle).toBeInstanceOf(DispatchHandle);
    const result = await handle;
    expect(Object.keys(result).sort()).toEqual(['errors', 'eventName', 'id']);
    expect(result).toEqual({ id: handle.id, eventName: 'gap.shape', errors: [] });
    expect(handle.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('wait() and done resolve (never reject) when listeners failed; the errors are on the result', async () => {
    const bus = await boot();
    bus.registerListener(
      { eventName: 'gap.fail', onEvent: () => Promise.reject(new Error('sync-boom')) },
      { eventName: 'gap.fail', options: { async: true }, onEvent: () => Promise.reject(new Error('async-boom')) },
    );
    const handle = bus.dispatch('gap.fail');
    const waited = await handle.wait({ timeoutMs: 5_000 });
    const done = await handle.done;
    expect(waited.errors.map((e) => (e.cause as Error).message).sort()).toEqual(['async-boom', 'sync-boom']);
    expect(done).toEqual(waited);
    expect(handle.errors).toEqual(waited.errors);
    for (const error of handle.errors) expect(error).toBeInstanceOf(EventError);
  });
});
