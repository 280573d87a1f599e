/**
 * What makes event data unsafe to rebuild: keys that reach or shadow `Object.prototype` when copied
 * onto an instance, and nesting deep enough to overflow the stack of whoever walks it later
 * (`JSON.stringify`, a logger, a deep clone).
 */

/** `__proto__`, `constructor`, `prototype` and every method name of `Object.prototype` (`toString`, `valueOf`, …). */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['prototype', ...Object.getOwnPropertyNames(Object.prototype)]);

/**
 * Cheap pre-check on JSON text before the full key scan: a forbidden key written as a key, or any `\u`
 * escape (which may spell one).
 */
const FORBIDDEN_HINT = new RegExp(`"(?:${[...FORBIDDEN_KEYS].join('|')})"\\s*:|\\\\u`);

/** Default of `redis.maxEventDepth`: nesting levels of objects and arrays inside `event_data`. */
export const DEFAULT_MAX_EVENT_DEPTH = 64;

/** False when the JSON `text` surely has no forbidden key (the common case, without parsing). */
export function mayHaveForbiddenKey(text: string): boolean {
  return FORBIDDEN_HINT.test(text);
}

/** The first forbidden key anywhere in parsed JSON `value`, or undefined (`findUnsafe` with no depth limit). */
export function findForbiddenKey(value: unknown): string | undefined {
  const unsafe = findUnsafe(value, Infinity);
  return unsafe === TOO_DEEP ? undefined : unsafe;
}

/** `findUnsafe()`'s answer for a value nested deeper than the limit. */
export const TOO_DEEP: unique symbol = Symbol('too deep');

/**
 * What makes parsed JSON `value` unsafe, in one walk: the first forbidden key, `TOO_DEEP` when
 * objects and arrays nest more than `limit` levels (`value` itself is level 1), or undefined.
 * `JSON.parse` has already resolved `\u` escapes, so a key spelled with one is caught as what it
 * spells; a `for…in` walk (own, enumerable keys only: `Object.prototype` has none enumerable) with
 * arrays read by index allocates no key list. `JSON.parse` does not recurse, so deep input is safe to
 * parse first and check here (a receiver reads each message once instead of scanning its text first).
 */
export function findUnsafe(value: unknown, limit: number): string | typeof TOO_DEEP | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  let stack: object[] | undefined;
  let depths: number[] | undefined;
  let current: object | undefined = value;
  let depth = 1;
  while (current !== undefined) {
    if (depth > limit) return TOO_DEEP;
    if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) {
        const child: unknown = current[i];
        if (child !== null && typeof child === 'object') {
          (stack ??= []).push(child);
          (depths ??= []).push(depth + 1);
        }
      }
    } else {
      for (const key in current) {
        if (FORBIDDEN_KEYS.has(key)) return key;
        const child: unknown = (current as Record<string, unknown>)[key];
        if (child !== null && typeof child === 'object') {
          (stack ??= []).push(child);
          (depths ??= []).push(depth + 1);
        }
      }
    }
    current = stack?.pop();
    depth = depths?.pop() ?? 0;
  }
  return undefined;
}

/**
 * True when JSON `text` nests objects/arrays more than `limit` levels deep. Most messages have fewer
 * brackets in all than the limit, which a few native `indexOf` calls show without a character loop.
 */
export function nestsDeeperThan(text: string, limit: number): boolean {
  if (countUpTo(text, '{', limit + 1) + countUpTo(text, '[', limit + 1) <= limit) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

function countUpTo(text: string, char: string, max: number): number {
  let count = 0;
  for (let at = text.indexOf(char); at !== -1 && count <= max; at = text.indexOf(char, at + 1)) count++;
  return count;
}
