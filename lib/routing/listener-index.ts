import { compilePattern, isPattern } from './event-pattern';
import type { ListenerEntry } from './listener-entry';

/** The listeners one event name reaches, split by how they run; immutable once built. */
export interface Route {
  readonly sync: readonly ListenerEntry[];
  readonly async: readonly ListenerEntry[];
}

interface PatternSlot {
  readonly regex: RegExp;
  entries: ListenerEntry[];
}

const EMPTY_ROUTE: Route = Object.freeze({ sync: Object.freeze([]), async: Object.freeze([]) });
/** Names resolved at most before the cache starts over (dynamic names must not grow memory). */
const MAX_CACHED_ROUTES = 10_000;

/**
 * Listeners by key. `route(name)` is computed once per name and cached until the next
 * registration change, so dispatch does one map lookup, never a scan of patterns.
 */
export class ListenerIndex {
  private readonly exact = new Map<string, ListenerEntry[]>();
  private readonly patterns = new Map<string, PatternSlot>();
  private readonly routes = new Map<string, Route>();
  /** Routes of subscription keys (bounded: one per registered key). */
  private readonly keyRoutes = new Map<string, Route>();
  /** The last name routed and its route: a loop dispatching one event skips even the map lookup. */
  private lastName: string | undefined;
  private lastRoute: Route = EMPTY_ROUTE;

  add(entry: ListenerEntry): void {
    if (isPattern(entry.key)) {
      const slot = this.patterns.get(entry.key);
      if (slot) slot.entries = [...slot.entries, entry];
      else this.patterns.set(entry.key, { regex: compilePattern(entry.key), entries: [entry] });
    } else {
      this.exact.set(entry.key, [...(this.exact.get(entry.key) ?? []), entry]);
    }
    this.invalidate();
  }

  /** Removes one listener. Returns true when its key has no listener left. */
  remove(entry: ListenerEntry): boolean {
    entry.active = false;
    let left = 0;
    if (isPattern(entry.key)) {
      const slot = this.patterns.get(entry.key);
      if (slot) {
        slot.entries = slot.entries.filter((e) => e !== entry);
        left = slot.entries.length;
        if (left === 0) this.patterns.delete(entry.key);
      }
    } else {
      const list = (this.exact.get(entry.key) ?? []).filter((e) => e !== entry);
      left = list.length;
      if (left === 0) this.exact.delete(entry.key);
      else this.exact.set(entry.key, list);
    }
    this.invalidate();
    return left === 0;
  }

  /** Removes every listener registered under `key`; returns them. */
  removeKey(key: string): ListenerEntry[] {
    const removed = isPattern(key) ? (this.patterns.get(key)?.entries ?? []) : (this.exact.get(key) ?? []);
    for (const entry of removed) entry.active = false;
    this.exact.delete(key);
    this.patterns.delete(key);
    this.invalidate();
    return removed;
  }

  /** Registrations changed: every cached route is stale. */
  private invalidate(): void {
    this.routes.clear();
    this.keyRoutes.clear();
    this.lastName = undefined;
    this.lastRoute = EMPTY_ROUTE;
  }

  hasKey(key: string): boolean {
    return this.exact.has(key) || this.patterns.has(key);
  }

  keys(): string[] {
    return [...this.exact.keys(), ...this.patterns.keys()];
  }

  entries(): ListenerEntry[] {
    return [...this.exact.values(), ...[...this.patterns.values()].map((s) => s.entries)].flat();
  }

  /** Every listener `name` reaches, in registration order. */
  route(name: string): Route {
    if (name === this.lastName) return this.lastRoute;
    return this.lookUp(name);
  }

  private lookUp(name: string): Route {
    let route = this.routes.get(name);
    if (route === undefined) {
      route = this.build(name);
      if (this.routes.size >= MAX_CACHED_ROUTES) this.routes.clear();
      this.routes.set(name, route);
    }
    this.lastName = name;
    this.lastRoute = route;
    return route;
  }

  /** The listeners of one subscription key that `name` reaches (a broadcast driver delivers per key). */
  routeKey(key: string, name: string): Route {
    if (!isPattern(key)) return key === name ? this.keyRoute(key) : EMPTY_ROUTE;
    const slot = this.patterns.get(key);
    return slot !== undefined && slot.regex.test(name) ? this.keyRoute(key) : EMPTY_ROUTE;
  }

  /** Every listener registered under `key` itself, cached like `route()` (a broadcast driver asks per event). */
  private keyRoute(key: string): Route {
    let route = this.keyRoutes.get(key);
    if (route === undefined) {
      const entries = isPattern(key) ? this.patterns.get(key)?.entries : this.exact.get(key);
      route = entries === undefined ? EMPTY_ROUTE : split(entries);
      this.keyRoutes.set(key, route);
    }
    return route;
  }

  private build(name: string): Route {
    const exact = this.exact.get(name);
    let all: ListenerEntry[] = exact ? [...exact] : [];
    let merged = false;
    for (const slot of this.patterns.values()) {
      if (slot.regex.test(name)) {
        all = all.concat(slot.entries);
        merged = true;
      }
    }
    if (all.length === 0) return EMPTY_ROUTE;
    if (merged) all.sort((a, b) => a.seq - b.seq);
    return split(all);
  }
}

function split(entries: readonly ListenerEntry[]): Route {
  const sync: ListenerEntry[] = [];
  const async: ListenerEntry[] = [];
  for (const entry of entries) (entry.async ? async : sync).push(entry);
  return Object.freeze({ sync: Object.freeze(sync), async: Object.freeze(async) });
}
