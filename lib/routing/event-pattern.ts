import { invalidListenerKeyReason, quoteEventName } from './event-name';

/**
 * Event name patterns: `*` matches one dot-separated segment, `**` one or more.
 * Wildcards must be whole segments (`user.*`, not `user*`).
 */
export function isPattern(key: string): boolean {
  return key.includes('*');
}

/** The segments of a pattern, checked: wildcards are whole segments and no segment is empty. */
export function parsePattern(pattern: string): string[] {
  const segments = pattern.split('.');
  for (const segment of segments) {
    if (segment.length === 0) throw new TypeError(`event pattern '${pattern}' has an empty segment`);
    if (segment !== '*' && segment !== '**' && segment.includes('*')) {
      throw new TypeError(`event pattern '${pattern}': wildcards must be whole segments ('user.*' or 'user.**'), not '${segment}'`);
    }
  }
  return segments;
}

/** The same rule as one RegExp, for matching one name against one pattern (routing uses a trie). */
export function compilePattern(pattern: string): RegExp {
  const parts = parsePattern(pattern).map((segment) => {
    if (segment === '**') return '[^.]+(?:\\.[^.]+)*';
    if (segment === '*') return '[^.]+';
    return segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('\\.')}$`);
}

export function assertEventKey(key: unknown, where: string): asserts key is string {
  if (typeof key !== 'string' || key.length === 0) {
    throw new TypeError(
      `${where}: an event name must be a non-empty string, a @DomainEvent class or an array of them (got ${String(key)})`,
    );
  }
  // A listener of a name nobody can dispatch would never run.
  const invalid = invalidListenerKeyReason(key);
  if (invalid !== undefined) throw new TypeError(`${where}: invalid event name ${quoteEventName(key)}: ${invalid}`);
  if (isPattern(key)) {
    try {
      parsePattern(key);
    } catch (err) {
      // Say which listener or call holds the bad pattern.
      throw new TypeError(`${where}: ${(err as Error).message}`);
    }
  }
}
