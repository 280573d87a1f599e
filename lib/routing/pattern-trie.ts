import { parsePattern } from './event-pattern';

interface TrieNode<T> {
  /** The literal segment that leads here from its parent ('' for the root and wildcard children). */
  readonly segment: string;
  /** Children by literal segment. */
  literal: Map<string, TrieNode<T>> | undefined;
  /**
   * Which lengths (bit `min(length, 31)`) and first characters (bit `code & 31`) the literal children
   * have: a segment that fits neither is not looked up (no slice, no hash).
   */
  lengths: number;
  firsts: number;
  /** The literal child found last: the same segment again is compared in place, without a slice or a hash. */
  recent: TrieNode<T> | undefined;
  /** Child behind a `*` segment. */
  star: TrieNode<T> | undefined;
  /** Child behind a `**` segment. */
  globstar: TrieNode<T> | undefined;
  /** Reached by a `**` edge: it takes further segments itself (one or more in all). */
  readonly loops: boolean;
  /** The value of the pattern that ends here. */
  value: T | undefined;
  /** Stamp of the matching step that last reached it: each node is visited once per step. */
  mark: number;
}

function newNode<T>(loops: boolean, segment = ''): TrieNode<T> {
  return {
    segment,
    literal: undefined,
    lengths: 0,
    firsts: 0,
    recent: undefined,
    star: undefined,
    globstar: undefined,
    loops,
    value: undefined,
    mark: 0,
  };
}

const lengthBit = (length: number): number => 1 << (length < 31 ? length : 31);
const firstBit = (segment: string, start: number): number => 1 << (segment.charCodeAt(start) & 31);

/** Recomputes the filters of `node` from its literal children (after one is removed). */
function refilter<T>(node: TrieNode<T>): void {
  node.lengths = 0;
  node.firsts = 0;
  node.recent = undefined;
  if (node.literal === undefined) return;
  for (const segment of node.literal.keys()) {
    node.lengths |= lengthBit(segment.length);
    node.firsts |= firstBit(segment, 0);
  }
}

function isBare<T>(node: TrieNode<T>): boolean {
  return node.value === undefined && node.star === undefined && node.globstar === undefined && (node.literal?.size ?? 0) === 0;
}

/** Marks wrap around here, so a stamp stays a small integer (V8 keeps it unboxed). */
const MAX_STAMP = 0x3fffffff;

/**
 * Patterns by segment: `match(name)` walks the name's segments once, keeping the set of nodes the
 * prefix read so far can be in (a `**` node may take more segments), so its cost depends on the name
 * and on the patterns that share its prefixes, never on how many patterns there are. Matching builds
 * nothing: the trie holds registered patterns only, whatever names are matched.
 */
export class PatternTrie<T> {
  private readonly root: TrieNode<T> = newNode(false);
  private count = 0;
  private stamp = 0;
  /** The nodes reachable before and after the segment being read (reused: matching allocates no arrays). */
  private current: TrieNode<T>[] = [];
  private next: TrieNode<T>[] = [];

  get size(): number {
    return this.count;
  }

  get(pattern: string): T | undefined {
    let node: TrieNode<T> | undefined = this.root;
    for (const segment of pattern.split('.')) {
      node = segment === '*' ? node.star : segment === '**' ? node.globstar : node.literal?.get(segment);
      if (node === undefined) return undefined;
    }
    return node.value;
  }

  /** Stores `value` under `pattern` (validated: whole-segment wildcards, no empty segment). */
  set(pattern: string, value: T): void {
    let node = this.root;
    for (const segment of parsePattern(pattern)) {
      if (segment === '*') node = node.star ??= newNode(false);
      else if (segment === '**') node = node.globstar ??= newNode(true);
      else {
        const literal = (node.literal ??= new Map());
        let child = literal.get(segment);
        if (child === undefined) {
          literal.set(segment, (child = newNode(false, segment)));
          node.lengths |= lengthBit(segment.length);
          node.firsts |= firstBit(segment, 0);
        }
        node = child;
      }
    }
    if (node.value === undefined) this.count++;
    node.value = value;
  }

  /** Removes `pattern` and the nodes only it needed. */
  delete(pattern: string): boolean {
    const segments = pattern.split('.');
    const path: TrieNode<T>[] = [this.root];
    let node: TrieNode<T> | undefined = this.root;
    for (const segment of segments) {
      node = segment === '*' ? node.star : segment === '**' ? node.globstar : node.literal?.get(segment);
      if (node === undefined) return false;
      path.push(node);
    }
    if (node.value === undefined) return false;
    node.value = undefined;
    this.count--;
    for (let depth = segments.length; depth > 0 && isBare(path[depth]); depth--) {
      const parent = path[depth - 1];
      const segment = segments[depth - 1];
      if (segment === '*') parent.star = undefined;
      else if (segment === '**') parent.globstar = undefined;
      else {
        parent.literal!.delete(segment);
        refilter(parent);
      }
    }
    // The scratch arrays may still point at removed nodes: let them go.
    this.current = [];
    this.next = [];
    return true;
  }

  /**
   * Writes to `out[0..n)` the value of every pattern `name` matches (each once, in no set order) and
   * returns n; the entries of `out` past n are left as they were.
   */
  match(name: string, out: T[]): number {
    if (this.count === 0) return 0;
    let current = this.current;
    let next = this.next;
    current[0] = this.root;
    let reached = 1;
    let start = 0;
    for (;;) {
      const dot = name.indexOf('.', start);
      const end = dot === -1 ? name.length : dot;
      const length = end - start;
      // Wildcards take non-empty segments only; no literal segment of a pattern is empty.
      const filled = length > 0;
      const lengths = lengthBit(length);
      const firsts = filled ? firstBit(name, start) : 0;
      // Sliced only when a node has literal children it may be among.
      let segment: string | undefined;
      if (this.stamp === MAX_STAMP) this.resetMarks();
      const stamp = ++this.stamp;
      let found = 0;
      for (let i = 0; i < reached; i++) {
        const node = current[i];
        if ((node.lengths & lengths) !== 0 && (node.firsts & firsts) !== 0) {
          segment ??= name.slice(start, end);
          // Names that differ in one segment (`order.<id>.created`) meet the same literal child again and
          // again: one string compare instead of hashing the new segment for the map.
          const recent = node.recent;
          let child: TrieNode<T> | undefined;
          if (recent !== undefined && recent.segment === segment) child = recent;
          else {
            child = node.literal!.get(segment);
            if (child !== undefined) node.recent = child;
          }
          if (child !== undefined && child.mark !== stamp) {
            child.mark = stamp;
            next[found++] = child;
          }
        }
        if (!filled) continue;
        const star = node.star;
        if (star !== undefined && star.mark !== stamp) {
          star.mark = stamp;
          next[found++] = star;
        }
        const globstar = node.globstar;
        if (globstar !== undefined && globstar.mark !== stamp) {
          globstar.mark = stamp;
          next[found++] = globstar;
        }
        if (node.loops && node.mark !== stamp) {
          node.mark = stamp;
          next[found++] = node;
        }
      }
      if (found === 0) return 0;
      const swap = current;
      current = next;
      next = swap;
      reached = found;
      if (dot === -1) break;
      start = dot + 1;
    }
    let matched = 0;
    for (let i = 0; i < reached; i++) {
      const value = current[i].value;
      if (value !== undefined) out[matched++] = value;
    }
    return matched;
  }

  private resetMarks(): void {
    const stack: TrieNode<T>[] = [this.root];
    while (stack.length > 0) {
      const node = stack.pop()!;
      node.mark = 0;
      if (node.star !== undefined) stack.push(node.star);
      if (node.globstar !== undefined) stack.push(node.globstar);
      if (node.literal !== undefined) for (const child of node.literal.values()) stack.push(child);
    }
    this.stamp = 0;
  }
}
