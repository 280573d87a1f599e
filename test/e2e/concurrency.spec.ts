import { afterEach, describe, expect, it } from 'vitest';
import { DispatchTimeoutError, EventError } from 'nestjs-event-bus';
import type { DispatchHandle, EventBus } from 'nestjs-event-bus';
import { bootApp, deferred, sleep, type BootedApp } from '../support/boot-app';

/** After any amount of churn, bus.wait() must reflect reality: time out while work hangs, resolve once it is done. */
async function expectInflightCounterSound(bus: EventBus, name: string): Promise<void> {
  await bus.wait({ timeoutMs: 5_000 });
  const gate = deferred();
  bus.registerListener({ eventName: name, options: { async: true }, onEvent: () => gate.promise });
  const handle = bus.dispatch(name);
  await expect(bus.wait({ timeoutMs: 20 })).rejects.toBeInstanceOf(DispatchTimeoutError);
  gate.resolve();
  await bus.wait({ timeoutMs: 5_000 });
  expect(handle.settled).toBe(true);
}

describe('re-entrancy, churn and failures', () => {
  let booted: BootedApp | undefined;
  afterEach(async () => {
    await booted?.close();
    booted = undefined;
  });
  const boot = async (): Promise<EventBus> => {
    booted = await bootApp();
    return booted.bus;
  };

  describe('re-entrant dispatch', () => {
    it('a sync listener dispatching on the same bus runs the inner listeners inline, without deadlock', async () => {
      const bus = await boot();
      const calls: string[] = [];
      bus.registerListener(
        {
          eventName: 're.outer',
          onEvent: () => {
            calls.push('outer-start');
            const inner = bus.dispatch('re.inner');
            calls.push(`inner-settled:${inner.settled}`);
            calls.push('outer-end');
          },
        },
        { eventName: 're.inner', onEvent: () => calls.push('inner') },
      );
      const handle = bus.dispatch('re.outer');
      expect(calls).toEqual(['outer-start', 'inner', 'inner-settled:true', 'outer-end']);
      expect(handle.settled).toBe(true);
    });

    it('a sync listener may await a dispatch it makes (async inner listeners included)', async () => {
      const bus = await boot();
      const calls: string[] = [];
      bus.registerListener(
        {
          eventName: 're.awaiting',
          onEvent: async () => {
            const result = await bus.dispatch('re.awaited');
            calls.push(`outer saw ${result.errors.length} errors`);
          },
        },
        {
          eventName: 're.awaited',
          options: { async: true },
          onEvent: async () => {
            await sleep(2);
            calls.push('inner-async');
          },
        },
      );
      await expect(bus.dispatch('re.awaiting').wait({ timeoutMs: 5_000 })).resolves.toMatchObject({ errors: [] });
      expect(calls).toEqual(['inner-async', 'outer saw 0 errors']);
    });

    it('an async listener may dispatch and await, also the same event name recursively', async () => {
      const bus = await boot();
      const depths: number[] = [];
      bus.registerListener({
        eventName: 're.recursive',
        options: { async: true },
        onEvent: async (e) => {
          const { depth } = e as { depth: number };
          depths.push(depth);
          if (depth < 20) await bus.dispatch('re.recursive', { depth: depth + 1 });
        },
      });
      await expect(bus.dispatch('re.recursive', { depth: 0 }).wait({ timeoutMs: 5_000 })).resolves.toBeDefined();
      expect(depths).toEqual(Array.from({ length: 21 }, (_, i) => i));
      await bus.wait({ timeoutMs: 5_000 });
    });

    it('deep sync recursion of one event settles every handle', async () => {
      const bus = await boot();
      const handles: DispatchHandle[] = [];
      bus.registerListener({
        eventName: 're.deep',
        onEvent: (e) => {
          const { depth } = e as { depth: number };
          if (depth < 200) handles.push(bus.dispatch('re.deep', { depth: depth + 1 }));
        },
      });
      handles.push(bus.dispatch('re.deep', { depth: 0 }));
      expect(handles).toHaveLength(201);
      expect(handles.every((h) => h.settled)).toBe(true);
      await expectInflightCounterSound(bus, 're.deep.check');
    });

    it('a listener failing inside a nested dispatch is recorded on the inner handle only', async () => {
      const bus = await boot();
      let inner: DispatchHandle | undefined;
      bus.registerListener(
        { eventName: 're.o', onEvent: () => void (inner = bus.dispatch('re.i')) },
        {
          eventName: 're.i',
          name: 'InnerFails',
          onEvent: () => {
            throw new Error('inner');
          },
        },
      );
      const outer = bus.dispatch('re.o');
      expect(outer.errors).toEqual([]);
      expect(inner!.errors.map((e) => e.listener)).toEqual(['InnerFails']);
    });
  });

  describe('registering and unregistering while a dispatch is in flight', () => {
    it('a sync listener unregistering its own event: later listeners of that dispatch are skipped, the handle settles', async () => {
      const bus = await boot();
      const calls: string[] = [];
      bus.registerListener(
        {
          eventName: 'ch.self',
          onEvent: () => {
            calls.push('first');
            void bus.unregisterListenersForEvent('ch.self');
          },
        },
        { eventName: 'ch.self', onEvent: () => calls.push('second-sync') },
        { eventName: 'ch.self', options: { async: true }, onEvent: () => void calls.push('async') },
      );
      const handle = bus.dispatch('ch.self');
      await expect(handle.wait({ timeoutMs: 2_000 })).resolves.toMatchObject({ errors: [] });
      expect(calls).toEqual(['first']);
      await expectInflightCounterSound(bus, 'ch.self.check');
    });

    it('unregistering while a sync listener is awaiting: the rest of the chain is skipped and the handle settles', async () => {
      const bus = await boot();
      const calls: string[] = [];
      const gate = deferred();
      bus.registerListener(
        {
          eventName: 'ch.mid',
          onEvent: async () => {
            calls.push('first');
            await gate.promise;
          },
        },
        { eventName: 'ch.mid', onEvent: () => calls.push('second') },
      );
      const handle = bus.dispatch('ch.mid');
      await bus.unregisterListenersForEvent('ch.mid');
      gate.resolve();
      await expect(handle.wait({ timeoutMs: 2_000 })).resolves.toBeDefined();
      expect(calls).toEqual(['first']);
      await expectInflightCounterSound(bus, 'ch.mid.check');
    });

    it('unregistering before queued async listeners start: they do not run and the handle settles', async () => {
      const bus = await boot();
      let calls = 0;
      bus.registerListener(
        { eventName: 'ch.queued', options: { async: true }, onEvent: async () => void calls++ },
        { eventName: 'ch.queued', options: { async: true }, onEvent: async () => void calls++ },
      );
      const handle = bus.dispatch('ch.queued');
      const removal = bus.unregisterListenersForEvent('ch.queued');
      await expect(handle.wait({ timeoutMs: 2_000 })).resolves.toBeDefined();
      await removal;
      expect(calls).toBe(0);
      await expectInflightCounterSound(bus, 'ch.queued.check');
    });

    it('unregistering while an async listener runs: it finishes, its error still counts, the handle settles', async () => {
      const bus = await boot();
      const gate = deferred();
      bus.registerListener({
        eventName: 'ch.running',
        name: 'Runner',
        options: { async: true },
        onEvent: async () => {
          await gate.promise;
          throw new Error('after removal');
        },
      });
      const handle = bus.dispatch('ch.running');
      await sleep(2);
      await bus.unregisterListenersForEvent('ch.running');
      gate.resolve();
      const { errors } = await handle.wait({ timeoutMs: 2_000 });
      expect(errors.map((e) => e.listener)).toEqual(['Runner']);
      await expectInflightCounterSound(bus, 'ch.running.check');
    });

    it('a listener registered during a dispatch gets the next dispatch, not the one in flight', async () => {
      const bus = await boot();
      const calls: string[] = [];
      bus.registerListener({
        eventName: 'ch.add',
        onEvent: (e) => {
          calls.push(`orig:${String(e)}`);
          if (e === 1) bus.registerListener({ eventName: 'ch.add', onEvent: (x) => calls.push(`late:${String(x)}`) });
        },
      });
      await bus.dispatch('ch.add', 1);
      await bus.dispatch('ch.add', 2);
      expect(calls).toEqual(['orig:1', 'orig:2', 'late:2']);
    });

    it('churn: interleaved dispatches, registrations and removals leave no handle hanging and a sound counter', async () => {
      const bus = await boot();
      const handles: DispatchHandle[] = [];
      let seed = 7;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2147483648;
        return seed % n;
      };
      const names = ['churn.a', 'churn.b', 'churn.c'];
      const removals: Array<Promise<void>> = [];
      for (let i = 0; i < 400; i++) {
        const name = names[rand(3)];
        switch (rand(5)) {
          case 0:
            bus.registerListener({ eventName: name, onEvent: () => (rand(4) === 0 ? sleep(rand(3)) : undefined) });
            break;
          case 1:
            bus.registerListener({
              eventName: rand(2) ? name : 'churn.*',
              options: { async: true },
              onEvent: async () => {
                await sleep(rand(3));
                if (rand(5) === 0) throw new Error('churn failure');
              },
            });
            break;
          case 2:
            removals.push(bus.unregisterListenersForEvent(rand(4) === 0 ? 'churn.*' : name));
            break;
          default:
            handles.push(bus.dispatch(name, i));
        }
        if (i % 50 === 0) await sleep(1);
      }
      await Promise.all(removals);
      const results = await Promise.all(handles.map((h) => h.wait({ timeoutMs: 5_000 })));
      expect(results).toHaveLength(handles.length);
      expect(handles.every((h) => h.settled)).toBe(true);
      await expectInflightCounterSound(bus, 'churn.check');
    });
  });

  describe('listeners returning misbehaving thenables', () => {
    const twice = { then: (ok: () => void) => (ok(), ok()) };
    const both = { then: (ok: () => void, fail: (e: unknown) => void) => (ok(), fail(new Error('late rejection'))) };
    const callsThenThrows = {
      then: (ok: () => void) => {
        ok();
        throw new Error('then threw after resolving');
      },
    };
    const thenThrows = {
      then: () => {
        throw new Error('then threw');
      },
    };
    const cases: Array<[string, object]> = [
      ['resolves twice', twice],
      ['resolves and rejects', both],
      ['resolves, then throws', callsThenThrows],
      ['throws from then()', thenThrows],
    ];
    for (const [label, thenable] of cases) {
      it(`a thenable that ${label}: the chain continues once, the handle settles, counters stay sound`, async () => {
        const bus = await boot();
        let next = 0;
        let asyncNext = 0;
        bus.registerListener(
          { eventName: 'thenable.sync', onEvent: () => thenable },
          { eventName: 'thenable.sync', onEvent: () => next++ },
          { eventName: 'thenable.async', options: { async: true }, onEvent: () => thenable },
          { eventName: 'thenable.async', options: { async: true }, onEvent: () => void asyncNext++ },
        );
        const sync = bus.dispatch('thenable.sync');
        const async = bus.dispatch('thenable.async');
        await sync.wait({ timeoutMs: 2_000 });
        await async.wait({ timeoutMs: 2_000 });
        await sleep(5);
        expect(next).toBe(1);
        expect(asyncNext).toBe(1);
        expect(sync.settled).toBe(true);
        expect(async.settled).toBe(true);
        expect(sync.errors.length).toBeLessThanOrEqual(1);
        await expectInflightCounterSound(bus, 'thenable.check');
      });
    }
  });

  describe('failing listeners never crash and never leave an unhandled rejection', () => {
    const nullProtoCycle = Object.create(null) as Record<string, unknown>;
    nullProtoCycle.self = nullProtoCycle;
    const thrownValues: Array<[string, unknown]> = [
      ['an Error', new Error('plain')],
      ['a string', 'text'],
      ['a number', 42],
      ['undefined', undefined],
      ['null', null],
      ['a plain object', { code: 'E1' }],
      ['a null-prototype cyclic object', nullProtoCycle],
    ];

    for (const [label, value] of thrownValues) {
      it(`sync throw, sync rejection, async throw and async rejection of ${label}`, async () => {
        const bus = await boot();
        let after = 0;
        bus.registerListener(
          {
            eventName: 'fail.any',
            name: 'SyncThrow',
            onEvent: () => {
              throw value;
            },
          },
          { eventName: 'fail.any', name: 'SyncReject', onEvent: () => Promise.reject(value) },
          {
            eventName: 'fail.any',
            name: 'AsyncThrow',
            options: { async: true },
            onEvent: () => {
              throw value;
            },
          },
          { eventName: 'fail.any', name: 'AsyncReject', options: { async: true }, onEvent: async () => Promise.reject(value) },
          { eventName: 'fail.any', onEvent: () => after++ },
        );
        // Fire and forget, then a tracked one.
        bus.dispatch('fail.any');
        const { errors } = await bus.dispatch('fail.any');
        expect(errors.map((e) => e.listener).sort()).toEqual(['AsyncReject', 'AsyncThrow', 'SyncReject', 'SyncThrow']);
        for (const error of errors) {
          expect(error).toBeInstanceOf(EventError);
          expect(error.cause).toBe(value);
          expect(error.message).toMatch(/^event 'fail\.any' listener '\w+': /);
        }
        await bus.wait({ timeoutMs: 5_000 });
        expect(after).toBe(2);
        expect(bus.getErrors()).toHaveLength(8);
      });
    }

    it('fire-and-forget: discarded handles lose nothing and raise no unhandled rejection', async () => {
      const bus = await boot();
      let ran = 0;
      bus.registerListener(
        { eventName: 'ff.x', options: { async: true }, onEvent: async () => void ran++ },
        {
          eventName: 'ff.x',
          options: { async: true },
          onEvent: async () => {
            await sleep(1);
            throw new Error('nobody is watching');
          },
        },
        {
          eventName: 'ff.x',
          onEvent: () => {
            throw new Error('sync, nobody is watching');
          },
        },
      );
      for (let i = 0; i < 100; i++) bus.dispatch('ff.x', i);
      // A handle whose `done` was read but never awaited must not reject either.
      void bus.dispatch('ff.x', 'done-read').done;
      await bus.wait({ timeoutMs: 5_000 });
      expect(ran).toBe(101);
      expect(bus.getErrors()).toHaveLength(202);
    });
  });
});
