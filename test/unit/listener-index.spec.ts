import { describe, expect, it } from 'vitest';
import type { ListenerEntry } from '../../lib/routing/listener-entry';
import { ListenerIndex } from '../../lib/routing/listener-index';

let seq = 0;
function entry(key: string, name = key, async = false): ListenerEntry {
  return { key, name, async, options: {}, seq: seq++, call: () => undefined, plain: true, active: true, close: async () => undefined };
}
const names = (list: readonly ListenerEntry[]) => list.map((e) => e.name);

describe('ListenerIndex', () => {
  it('routes an exact name only to listeners of that name', () => {
    const index = new ListenerIndex();
    index.add(entry('user.registered', 'a'));
    index.add(entry('user.deleted', 'b'));
    expect(names(index.route('user.registered').sync)).toEqual(['a']);
    expect(names(index.route('user.deleted').sync)).toEqual(['b']);
    expect(index.route('user').sync).toEqual([]);
    expect(index.route('user.registered.extra').sync).toEqual([]);
  });

  it('`*` matches exactly one segment', () => {
    const index = new ListenerIndex();
    index.add(entry('user.*', 'star'));
    expect(names(index.route('user.registered').sync)).toEqual(['star']);
    expect(names(index.route('user.x').sync)).toEqual(['star']);
    expect(index.route('user').sync).toEqual([]);
    expect(index.route('user.a.b').sync).toEqual([]);
    expect(index.route('order.created').sync).toEqual([]);
    expect(index.route('users.registered').sync).toEqual([]);
  });

  it('`*` in the middle matches one segment there', () => {
    const index = new ListenerIndex();
    index.add(entry('a.*.c', 'mid'));
    expect(names(index.route('a.b.c').sync)).toEqual(['mid']);
    expect(index.route('a.b.b.c').sync).toEqual([]);
    expect(index.route('a.c').sync).toEqual([]);
  });

  it('`**` matches any depth below its prefix', () => {
    const index = new ListenerIndex();
    index.add(entry('user.**', 'deep'));
    expect(names(index.route('user.a').sync)).toEqual(['deep']);
    expect(names(index.route('user.a.b').sync)).toEqual(['deep']);
    expect(names(index.route('user.a.b.c.d').sync)).toEqual(['deep']);
    expect(index.route('order.a').sync).toEqual([]);
    expect(index.route('username').sync).toEqual([]);
  });

  it('a lone `**` matches every name', () => {
    const index = new ListenerIndex();
    index.add(entry('**', 'all'));
    for (const name of ['a', 'a.b', 'x.y.z']) expect(names(index.route(name).sync)).toEqual(['all']);
  });

  it('keeps registration order across exact and wildcard listeners', () => {
    const index = new ListenerIndex();
    index.add(entry('user.*', 'w1'));
    index.add(entry('user.registered', 'e1'));
    index.add(entry('user.**', 'w2'));
    index.add(entry('user.registered', 'e2'));
    index.add(entry('user.*', 'w3'));
    expect(names(index.route('user.registered').sync)).toEqual(['w1', 'e1', 'w2', 'e2', 'w3']);
  });

  it('splits sync and async listeners, each in registration order', () => {
    const index = new ListenerIndex();
    index.add(entry('e', 's1'));
    index.add(entry('e', 'a1', true));
    index.add(entry('*', 's2'));
    index.add(entry('**', 'a2', true));
    const route = index.route('e');
    expect(names(route.sync)).toEqual(['s1', 's2']);
    expect(names(route.async)).toEqual(['a1', 'a2']);
  });

  it('sees a listener added after a name was routed (cache invalidated on add)', () => {
    const index = new ListenerIndex();
    index.add(entry('x.y', 'first'));
    expect(names(index.route('x.y').sync)).toEqual(['first']);
    index.add(entry('x.*', 'late-pattern'));
    expect(names(index.route('x.y').sync)).toEqual(['first', 'late-pattern']);
    index.add(entry('x.y', 'late-exact'));
    expect(names(index.route('x.y').sync)).toEqual(['first', 'late-pattern', 'late-exact']);
    // A name with no listener at first, routed (and cached as empty), then given one.
    expect(index.route('nobody').sync).toEqual([]);
    index.add(entry('nobody', 'now'));
    expect(names(index.route('nobody').sync)).toEqual(['now']);
  });

  it('forgets a removed listener (cache invalidated on remove) and marks it inactive', () => {
    const index = new ListenerIndex();
    const a = entry('x.y', 'a');
    const w = entry('x.*', 'w');
    index.add(a);
    index.add(w);
    expect(names(index.route('x.y').sync)).toEqual(['a', 'w']);
    expect(index.remove(w)).toBe(true);
    expect(w.active).toBe(false);
    expect(names(index.route('x.y').sync)).toEqual(['a']);
    expect(index.remove(a)).toBe(true);
    expect(index.route('x.y').sync).toEqual([]);
    expect(index.hasKey('x.y')).toBe(false);
  });

  it('remove() reports whether the key still has listeners', () => {
    const index = new ListenerIndex();
    const a = entry('k', 'a');
    const b = entry('k', 'b');
    index.add(a);
    index.add(b);
    expect(index.remove(a)).toBe(false);
    expect(index.hasKey('k')).toBe(true);
    expect(index.remove(b)).toBe(true);
  });

  it('removeKey() removes every listener of one key and returns them, leaving other keys', () => {
    const index = new ListenerIndex();
    const a = entry('k', 'a');
    const b = entry('k', 'b');
    const w = entry('*', 'w');
    index.add(a);
    index.add(b);
    index.add(w);
    expect(names(index.route('k').sync)).toEqual(['a', 'b', 'w']);
    const removed = index.removeKey('k');
    expect(names(removed)).toEqual(['a', 'b']);
    expect(a.active).toBe(false);
    expect(b.active).toBe(false);
    expect(names(index.route('k').sync)).toEqual(['w']);
    expect(index.removeKey('k')).toEqual([]);
    expect(names(index.removeKey('*'))).toEqual(['w']);
    expect(index.route('k').sync).toEqual([]);
  });

  it('a route already handed out is not changed by later registrations (in-flight dispatches are stable)', () => {
    const index = new ListenerIndex();
    index.add(entry('e', 'a'));
    const before = index.route('e');
    index.add(entry('e', 'b'));
    expect(names(before.sync)).toEqual(['a']);
    expect(names(index.route('e').sync)).toEqual(['a', 'b']);
  });

  it('routeKey() gives the listeners of one subscription key only', () => {
    const index = new ListenerIndex();
    index.add(entry('user.a', 'exact'));
    index.add(entry('user.*', 'star'));
    expect(names(index.routeKey('user.*', 'user.a').sync)).toEqual(['star']);
    expect(names(index.routeKey('user.a', 'user.a').sync)).toEqual(['exact']);
    expect(index.routeKey('user.a', 'user.b').sync).toEqual([]);
    expect(index.routeKey('user.*', 'order.a').sync).toEqual([]);
  });

  it('routeKey() sees listeners added and removed after it was asked (its cache is invalidated too)', () => {
    const index = new ListenerIndex();
    const first = entry('user.a', 'first');
    index.add(first);
    index.add(entry('user.*', 'star'));
    expect(names(index.routeKey('user.a', 'user.a').sync)).toEqual(['first']);
    expect(names(index.routeKey('user.*', 'user.a').sync)).toEqual(['star']);
    index.add(entry('user.a', 'second'));
    index.add(entry('user.*', 'star2', true));
    expect(names(index.routeKey('user.a', 'user.a').sync)).toEqual(['first', 'second']);
    expect(names(index.routeKey('user.*', 'user.b').async)).toEqual(['star2']);
    index.remove(first);
    expect(names(index.routeKey('user.a', 'user.a').sync)).toEqual(['second']);
    index.removeKey('user.*');
    expect(index.routeKey('user.*', 'user.a').sync).toEqual([]);
  });
});
