import { invalidEventNameReason } from './event-name';
import { isPattern } from './event-pattern';
import type { ListenerEntry } from './listener-entry';
import { PatternTrie } from './pattern-trie';

/** The listeners one event name reaches, split by how they run; immutable once built. */
export interface Route {
  readonly sync: readonly ListenerEntry[];
  readonly async: readonly ListenerEntry[];
}

/** The listeners of one key (an event name or a pattern), in registration order. */
interface Slot {
  readonly key: string;
  /** Creation order: names the slot in the key of a merged route. */
  readonly id: number;
  /** Replaced on every change, never changed in place: a route already handed out keeps its lists. */
  entries: ListenerEntry[];
  /** The route of this key's listeners alone; rebuilt on first use after a change. */
  route: IndexedRoute | undefined;
}

/** A route with the pattern slots it came from (a broadcast delivery asks whether its key is one of them). */
interface IndexedRoute extends Route {
  readonly patterns: readonly Slot[];
}

const NO_SLOTS: readonly Slot[] = Object.freeze([]);
const EMPTY_ROUTE: IndexedRoute = Object.freeze({ sync: Object.freeze([]), async: Object.freeze([]), patterns: NO_SLOTS });
/**
 * The route of a name that may not be dispatched (see `invalidEventNameReason`): reaches no listener,
 * and the bus refuses the dispatch when it gets it. Checked only when a name misses the cache, so a
 * known name pays nothing for the check.
 */
export const INVALID_NAME_ROUTE: Route = Object.freeze({ sync: Object.freeze([]), async: Object.freeze([]), patterns: NO_SLOTS });
/** Names resolved at most before the cache starts over (dynamic names must not grow memory). */
const MAX_CACHED_ROUTES = 10_000;
/**
 * One miss in this many (a power of two) enters the name cache, unless the name has listeners of
 * its own. Storing a new name costs several lookups (the map grows, the name outlives
 * young-generation GC), and most names that reach only patterns or nothing are dynamic
 * (`order.<id>.created`) and never come again; a name that does come again is soon admitted.
 */
const ADMIT_EVERY = 64;

/**
 * Listeners by key. `route(name)` is cached per name until the next registration change, so a
 * dispatch of a known name is one map lookup. A name not in the cache costs one exact lookup and one
 * walk of the pattern trie over its segments (never a scan of patterns); a name that reaches one key
 * gets that key's prebuilt route, one that reaches several a merged route cached by the set of keys,
 * so new names allocate no route.
 */
export class ListenerIndex {
  private readonly exact = new Map<string, Slot>();
  private readonly patterns = new Map<string, Slot>();
  private readonly trie = new PatternTrie<Slot>();
  private readonly routes = new Map<string, IndexedRoute>();
  /** Routes of names that reach several keys, by those keys (bounded like `routes`). */
  private readonly merged = new Map<string, IndexedRoute>();
  /** Scratch list of the pattern slots a name matches (reused: a lookup calls no listener, so it never nests). */
  private readonly matched: Slot[] = [];
  private nextSlotId = 0;
  private misses = 0;
  /** The last name routed and its route: a loop dispatching one event skips even the map lookup. */
  private lastName: string | undefined;
  private lastRoute: IndexedRoute = EMPTY_ROUTE;

  add(entry: ListenerEntry): void {
    const pattern = isPattern(entry.key);
    const table = pattern ? this.patterns : this.exact;
    const slot = table.get(entry.key);
    if (slot !== undefined) {
      slot.entries = [...slot.entries, entry];
      slot.route = undefined;
    } else {
      const created: Slot = { key: entry.key, id: this.nextSlotId++, entries: [entry], route: undefined };
      // The trie checks the pattern (and throws) before anything is stored.
      if (pattern) this.trie.set(entry.key, created);
      table.set(entry.key, created);
    }
    this.invalidate();
  }

  /** Removes one listener. Returns true when its key has no listener left. */
  remove(entry: ListenerEntry): boolean {
    entry.active = false;
    const slot = this.slotOf(entry.key);
    let left = 0;
    if (slot !== undefined) {
      slot.entries = slot.entries.filter((e) => e !== entry);
      slot.route = undefined;
      left = slot.entries.length;
      if (left === 0) this.drop(slot);
    }
    this.invalidate();
    return left === 0;
  }

  /** Removes every listener registered under `key`; returns them. */
  removeKey(key: string): ListenerEntry[] {
    const slot = this.slotOf(key);
    if (slot === undefined) return [];
    for (const entry of slot.entries) entry.active = false;
    this.drop(slot);
    this.invalidate();
    return slot.entries;
  }

  hasKey(key: string): boolean {
    return this.exact.has(key) || this.patterns.has(key);
  }

  keys(): string[] {
    return [...this.exact.keys(), ...this.patterns.keys()];
  }

  entries(): ListenerEntry[] {
    return [...this.exact.values(), ...this.patterns.values()].flatMap((slot) => slot.entries);
  }

  /** How many names have a cached route (bounded, whatever names are dispatched). */
  get cachedRoutes(): number {
    return this.routes.size + this.merged.size;
  }

  /** Every listener `name` reaches, in registration order. */
  route(name: string): Route {
    if (name === this.lastName) return this.lastRoute;
    return this.lookUp(name);
  }

  /** The listeners of one subscription key that `name` reaches (a broadcast driver delivers per key). */
  routeKey(key: string, name: string): Route {
    if (!isPattern(key)) {
      const slot = key === name ? this.exact.get(key) : undefined;
      return slot === undefined ? EMPTY_ROUTE : this.slotRoute(slot);
    }
    const slot = this.patterns.get(key);
    if (slot === undefined) return EMPTY_ROUTE;
    // The name's route (cached, or one trie walk) lists the patterns it matches: one structure decides
    // for local dispatch and for every copy of a received message.
    const route = name === this.lastName ? this.lastRoute : this.lookUp(name);
    return route.patterns.includes(slot) ? this.slotRoute(slot) : EMPTY_ROUTE;
  }

  private lookUp(name: string): IndexedRoute {
    let route = this.routes.get(name);
    if (route === undefined) {
      const exact = this.exact.size === 0 ? undefined : this.exact.get(name);
      route = this.resolve(name, exact);
      // Checked after the walk, which only reads: the walk's indexOf() has flattened a concatenated name
      // by now, and V8 runs a RegExp on an unflattened one through a slow runtime call.
      if (invalidEventNameReason(name) !== undefined) return INVALID_NAME_ROUTE as IndexedRoute;
      // A name with its own listeners is one of a bounded set: always worth keeping.
      this.misses = (this.misses + 1) & (ADMIT_EVERY - 1);
      if (exact !== undefined || this.misses === 0) this.admit(name, route);
      else {
        // Not kept as the last name either: the next name (most often as long, with other text) would
        // be compared with this one character by character, for a match that a new name never makes.
        this.lastName = undefined;
        this.lastRoute = EMPTY_ROUTE;
        return route;
      }
    }
    this.lastName = name;
    this.lastRoute = route;
    return route;
  }

  private admit(name: string, route: IndexedRoute): void {
    if (this.routes.size >= MAX_CACHED_ROUTES) this.routes.clear();
    this.routes.set(name, route);
  }

  private resolve(name: string, exact: Slot | undefined): IndexedRoute {
    const matched = this.matched;
    const count = this.trie.match(name, matched);
    let route: IndexedRoute;
    if (count === 0) route = exact === undefined ? EMPTY_ROUTE : this.slotRoute(exact);
    else if (count === 1 && exact === undefined) route = this.slotRoute(matched[0]);
    else route = this.mergedRoute(exact, matched, count);
    return route;
  }

  /** The route of a name that reaches several keys: the same for every name that reaches the same keys. */
  private mergedRoute(exact: Slot | undefined, matched: Slot[], count: number): IndexedRoute {
    const slots = matched.slice(0, count).sort(byId);
    let key = exact === undefined ? '' : String(exact.id);
    for (const slot of slots) key += ',' + slot.id;
    let route = this.merged.get(key);
    if (route === undefined) {
      let all: ListenerEntry[] = exact === undefined ? [] : exact.entries;
      for (const slot of slots) all = all.concat(slot.entries);
      // Registration order across every key (seq is global).
      all.sort(bySeq);
      route = build(all, Object.freeze(slots));
      if (this.merged.size >= MAX_CACHED_ROUTES) this.merged.clear();
      this.merged.set(key, route);
    }
    return route;
  }

  private slotRoute(slot: Slot): IndexedRoute {
    return (slot.route ??= build(slot.entries, isPattern(slot.key) ? Object.freeze([slot]) : NO_SLOTS));
  }

  private slotOf(key: string): Slot | undefined {
    return isPattern(key) ? this.patterns.get(key) : this.exact.get(key);
  }

  private drop(slot: Slot): void {
    if (isPattern(slot.key)) {
      this.patterns.delete(slot.key);
      this.trie.delete(slot.key);
      // The scratch list may still hold it.
      this.matched.length = 0;
    } else {
      this.exact.delete(slot.key);
    }
  }

  /** Registrations changed: every cached name and merged route is stale (a slot's own route is reset with it). */
  private invalidate(): void {
    this.routes.clear();
    this.merged.clear();
    this.lastName = undefined;
    this.lastRoute = EMPTY_ROUTE;
  }
}

const byId = (a: Slot, b: Slot) => a.id - b.id;
const bySeq = (a: ListenerEntry, b: ListenerEntry) => a.seq - b.seq;

function build(entries: readonly ListenerEntry[], patterns: readonly Slot[]): IndexedRoute {
  if (entries.length === 0 && patterns.length === 0) return EMPTY_ROUTE;
  const sync: ListenerEntry[] = [];
  const async: ListenerEntry[] = [];
  for (const entry of entries) (entry.async ? async : sync).push(entry);
  return Object.freeze({ sync: Object.freeze(sync), async: Object.freeze(async), patterns });
}
