/**
 * Whether a Redis PSUBSCRIBE glob matches a channel (`*`, `?`, `[...]`, `\` escapes), to check that
 * a report names a subscription the tracked event could have reached.
 */
export function redisGlobMatches(glob: string, text: string): boolean {
  return match(glob, 0, text, 0);
}

function match(p: string, pi: number, s: string, si: number): boolean {
  while (pi < p.length) {
    const c = p[pi];
    if (c === '*') {
      while (p[pi] === '*') pi++;
      if (pi === p.length) return true;
      for (let k = si; k <= s.length; k++) if (match(p, pi, s, k)) return true;
      return false;
    }
    if (si >= s.length) return false;
    if (c === '?') {
      pi++;
      si++;
      continue;
    }
    if (c === '[') {
      const end = p.indexOf(']', pi + 1);
      if (end < 0) return false;
      let set = p.slice(pi + 1, end);
      const negate = set.startsWith('^');
      if (negate) set = set.slice(1);
      let found = false;
      for (let i = 0; i < set.length; i++) {
        if (set[i] === '\\' && i + 1 < set.length) {
          if (set[++i] === s[si]) found = true;
        } else if (i + 2 < set.length && set[i + 1] === '-') {
          if (s[si] >= set[i] && s[si] <= set[i + 2]) found = true;
          i += 2;
        } else if (set[i] === s[si]) found = true;
      }
      if (found === negate) return false;
      pi = end + 1;
      si++;
      continue;
    }
    const literal = c === '\\' && pi + 1 < p.length ? p[++pi] : c;
    if (literal !== s[si]) return false;
    pi++;
    si++;
  }
  return si === s.length;
}
