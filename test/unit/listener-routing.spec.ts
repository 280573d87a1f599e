import { describe, expect, it } from 'vitest';
import type { ListenerEntry } from '../../lib/routing/listener-entry';
import { INVALID_NAME_ROUTE, ListenerIndex } from '../../lib/routing/listener-index';

let seq = 0;
function entry(key: string, name = key, async = false): ListenerEntry {
  return { key, name, async, options: {}, seq: seq++, call: () => undefined, plain: true, active: true, close: async () => undefined };
}
const names = (list: readonly ListenerEntry[]) => list.map((e) => e.name);

/** What the bus does with a route: sync listeners in order, skipping any unregistered meanwhile. */
function runSync(index: ListenerIndex, name: string, during: (at: string) => void): string[] {
  const ran: string[] = [];
  for (const e of index.route(name).sync) {
    if (!e.active) continue;
    ran.push(e.name);
    during(e.name);
  }
  return ran;
}

describe('ListenerIndex routing on the pattern trie', () => {
  it('keeps registration order across exact and several pattern keys, for new and cached names alike', () => {
    const index = new ListenerIndex();
    index.add(entry('order.**', 'deep1'));
    index.add(entry('order.42.created', 'exact1'));
    index.add(entry('order.*.created', 'star1'));
    index.add(entry('*.*.created', 'lead'));
    index.add(entry('order.42.created', 'exact2'));
    index.add(entry('order.**', 'deep2'));
    const expected = ['deep1', 'exact1', 'star1', 'lead', 'exact2', 'deep2'];
    for (let i = 0; i < 3; i++) expect(names(index.route('order.42.created').sync)).toEqual(expected);
    // Another name reaching the same pattern keys (no exact one) shares their order.
    expect(names(index.route('order.7.created').sync)).toEqual(['deep1', 'star1', 'lead', 'deep2']);
    expect(names(index.route('order.7.shipped').sync)).toEqual(['deep1', 'deep2']);
  });

  it('`*` is one segment, `**` one or more', () => {
    const index = new ListenerIndex();
    index.add(entry('order.*', 'star'));
    index.add(entry('order.**', 'deep'));
    expect(names(index.route('order.a').sync)).toEqual(['star', 'deep']);
    expect(names(index.route('order.a.b').sync)).toEqual(['deep']);
    expect(index.route('order').sync).toEqual([]);
  });

  it('a listener removed during a dispatch does not run later in that dispatch; the next dispatch no longer sees it', () => {
    const index = new ListenerIndex();
    index.add(entry('order.**', 'remover'));
    const late = entry('order.*.created', 'late');
    index.add(late);
    index.add(entry('order.1.created', 'exact'));
    const ran = runSync(index, 'order.1.created', (at) => {
      if (at === 'remover') index.remove(late);
    });
    expect(ran).toEqual(['remover', 'exact']);
    expect(names(index.route('order.1.created').sync)).toEqual(['remover', 'exact']);
    expect(names(index.route('order.2.created').sync)).toEqual(['remover']);
  });

  it('removeKey() of a pattern during a dispatch stops its listeners for the rest of it', () => {
    const index = new ListenerIndex();
    index.add(entry('a.b', 'first'));
    index.add(entry('a.*', 'w1'));
    index.add(entry('a.*', 'w2'));
    const ran = runSync(index, 'a.b', (at) => {
      if (at === 'first') index.removeKey('a.*');
    });
    expect(ran).toEqual(['first']);
    expect(index.hasKey('a.*')).toBe(false);
    expect(names(index.route('a.b').sync)).toEqual(['first']);
  });

  it('a listener added during a dispatch runs from the next dispatch on, not in the one under way', () => {
    const index = new ListenerIndex();
    index.add(entry('a.*', 'adder'));
    index.add(entry('a.b', 'exact'));
    let added = false;
    const ran = runSync(index, 'a.b', () => {
      if (!added) {
        added = true;
        index.add(entry('a.**', 'new-pattern'));
        index.add(entry('a.b', 'new-exact'));
      }
    });
    expect(ran).toEqual(['adder', 'exact']);
    expect(names(index.route('a.b').sync)).toEqual(['adder', 'exact', 'new-pattern', 'new-exact']);
  });

  it('routes among 20,000 patterns and 20,000 exact names by segments, exactly', () => {
    const index = new ListenerIndex();
    for (let i = 0; i < 5000; i++) {
      index.add(entry(`e${i}.*.created`, `e${i}`));
      index.add(entry(`order.*.s${i}`, `s${i}`));
      index.add(entry(`t${i}.**`, `t${i}`));
      index.add(entry(`*.x${i}.created`, `x${i}`));
      index.add(entry(`order.${i}.created`, `exact${i}`));
    }
    index.add(entry('order.*.created', 'order'));
    expect(names(index.route('order.17.created').sync)).toEqual(['exact17', 'order']);
    expect(names(index.route('order.5001.created').sync)).toEqual(['order']);
    expect(names(index.route('order.x9.created').sync)).toEqual(['x9', 'order']);
    expect(names(index.route('t3.a.b.c').sync)).toEqual(['t3']);
    expect(names(index.route('order.q.s4999').sync)).toEqual(['s4999']);
    expect(index.route('audit.1.logged').sync).toEqual([]);
    expect(index.keys()).toHaveLength(25_001);
  });

  it('stays bounded when every dispatch uses a new name: the cache never passes its limit', () => {
    const index = new ListenerIndex();
    index.add(entry('order.*.created', 'star'));
    index.add(entry('order.**', 'deep'));
    index.add(entry('order.1.created', 'exact'));
    let peak = 0;
    for (let i = 0; i < 100_000; i++) {
      const reached = index.route(i % 2 === 0 ? `order.${i}.created` : `audit.${i}.logged`).sync.length;
      if (reached !== (i % 2 === 0 ? 2 : 0)) throw new Error(`event ${i} reached ${reached} listeners`);
      peak = Math.max(peak, index.cachedRoutes);
    }
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(10_001);
    // One merged route for every new name that reaches the same two keys.
    expect(index.route('order.100001.created')).toBe(index.route('order.100003.created'));
  });

  it('a name dispatched again is admitted to the cache and then served from it', () => {
    const index = new ListenerIndex();
    index.add(entry('user.*', 'star'));
    const first = index.route('user.a');
    for (let i = 0; i < 500; i++) {
      index.route(`user.${i % 2 === 0 ? 'a' : 'b'}`);
    }
    expect(index.cachedRoutes).toBeGreaterThan(0);
    expect(index.route('user.a')).toBe(first);
  });

  it('a name with listeners of its own is cached on its first miss (a bounded set: the registered names)', () => {
    const index = new ListenerIndex();
    index.add(entry('audit.**', 'deep'));
    for (let k = 0; k < 100; k++) index.add(entry(`order.${k}.created`, `exact${k}`));
    for (let k = 0; k < 100; k++) index.route(`order.${k}.created`);
    expect(index.cachedRoutes).toBe(100);
  });

  it('a new name that patterns reach is refused when it is no event name, checked after the walk', () => {
    const index = new ListenerIndex();
    index.add(entry('order.*.created', 'star'));
    index.add(entry('**', 'all'));
    // Built by concatenation, as dynamic names are (V8 keeps them unflattened until read).
    const id = (k: number) => String(1000 + k);
    expect(index.route(`order.${id(1)} x.created`)).toBe(INVALID_NAME_ROUTE);
    expect(index.route(`order.${id(2)}\u00a0.created`)).toBe(INVALID_NAME_ROUTE);
    expect(index.route(`order.${id(3)}\u200b.created`)).toBe(INVALID_NAME_ROUTE);
    expect(index.route(`order.${id(4)}*.created`)).toBe(INVALID_NAME_ROUTE);
    expect(index.route(`order.${id(5)}\u007f.created`)).toBe(INVALID_NAME_ROUTE);
    // Non-ASCII text that is neither whitespace nor a control character is a name like any other.
    expect(names(index.route(`order.${id(6)}é✓.created`).sync)).toEqual(['star', 'all']);
    expect(names(index.route(`order.${id(7)}~!.created`).sync)).toEqual(['star', 'all']);
    // The refusal is not cached: a valid name after an invalid one routes normally.
    expect(names(index.route(`order.${id(8)}.created`).sync)).toEqual(['star', 'all']);
  });

  it('the same new name dispatched over and over routes the same each time, cached or not', () => {
    const index = new ListenerIndex();
    index.add(entry('user.*', 'star'));
    const routes = new Set<unknown>();
    for (let i = 0; i < 200; i++) {
      // A fresh string each time, the same text: not kept as the last name until admitted.
      const route = index.route(`user.${String(i % 1)}x`);
      expect(names(route.sync)).toEqual(['star']);
      routes.add(route);
      expect(names(index.route(`user.${i}`).sync)).toEqual(['star']);
    }
    expect(routes.size).toBe(1);
    expect(index.cachedRoutes).toBeGreaterThan(0);
  });

  it('routeKey() answers each copy of a received message from the same lookup: only keys the name matches', () => {
    const index = new ListenerIndex();
    index.add(entry('user.*', 'star'));
    index.add(entry('user.**', 'deep', true));
    index.add(entry('user.a', 'exact'));
    expect(names(index.routeKey('user.*', 'user.a').sync)).toEqual(['star']);
    expect(names(index.routeKey('user.**', 'user.a').async)).toEqual(['deep']);
    expect(names(index.routeKey('user.a', 'user.a').sync)).toEqual(['exact']);
    // Redis' glob `user.*` also delivers `user.a.b`; the exact rule filters it for `user.*`, not for `user.**`.
    expect(index.routeKey('user.*', 'user.a.b').sync).toEqual([]);
    expect(names(index.routeKey('user.**', 'user.a.b').async)).toEqual(['deep']);
    expect(index.routeKey('user.*', 'order.a').sync).toEqual([]);
    expect(index.routeKey('nope.*', 'nope.a').sync).toEqual([]);
  });
});
