/**
 * Event name patterns: `*` matches one dot-separated segment, `**` one or more.
 * Wildcards must be whole segments (`user.*`, not `user*`).
 */
export function isPattern(key: string): boolean {
  return key.includes('*');
}

export function compilePattern(pattern: string): RegExp {
  const parts = pattern.split('.').map((segment) => {
    if (segment === '**') return '[^.]+(?:\\.[^.]+)*';
    if (segment === '*') return '[^.]+';
    if (segment.includes('*')) {
      throw new TypeError(`event pattern '${pattern}': wildcards must be whole segments ('user.*' or 'user.**'), not '${segment}'`);
    }
    if (segment.length === 0) throw new TypeError(`event pattern '${pattern}' has an empty segment`);
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
  if (isPattern(key)) {
    try {
      compilePattern(key);
    } catch (err) {
      // Say which listener or call holds the bad pattern.
      throw new TypeError(`${where}: ${(err as Error).message}`);
    }
  }
}
