// The routing-at-scale workload, shared by this package's case and eventemitter2's: the same
// patterns and the same event names for both.
//
// Variants (env BENCH_VARIANT):
//   wild:N      N wildcard patterns, one listener each; every event is a name never seen before,
//               `order.<i>.created`, which reaches exactly one of them (`order.*.created`)
//   none:N      the same N patterns; every event is a new name `audit.<i>.logged` that reaches none
//   exact:K     K exact names `order.<k>.created`, one listener each; events rotate over the K names

/** `{ kind, size }` of a variant string. */
export function parseVariant(variant) {
  const [kind, size] = variant.split(':');
  if (!['wild', 'none', 'exact'].includes(kind) || !(Number(size) > 0)) throw new Error(`unknown routing variant ${variant}`);
  return { kind, size: Number(size) };
}

/**
 * N wildcard patterns of the shapes apps use: one `order.*.created` that every dispatched name
 * reaches, and per-entity ones that it does not: a distinct first segment (`e7.*.created`), the
 * same prefix with a distinct last segment (`order.*.s7`), a deep one (`e7.**`) and a leading
 * wildcard (`*.x7.created`).
 */
export function wildcardPatterns(n) {
  const out = ['order.*.created'];
  for (let i = 1; i < n; i++) {
    switch (i % 4) {
      case 0:
        out.push(`*.x${i}.created`);
        break;
      case 1:
        out.push(`e${i}.*.created`);
        break;
      case 2:
        out.push(`order.*.s${i}`);
        break;
      default:
        out.push(`e${i}.**`);
    }
  }
  return out;
}

/** The listener keys of a variant. */
export function keysOf({ kind, size }) {
  if (kind === 'exact') return Array.from({ length: size }, (_, k) => `order.${k}.created`);
  return wildcardPatterns(size);
}

/** The event name of the i-th event. */
export function nameOf({ kind, size }, i) {
  if (kind === 'exact') return `order.${i % size}.created`;
  if (kind === 'none') return `audit.${i}.logged`;
  return `order.${i}.created`;
}

/** Listener calls the timed events must have made (the check that both libraries did the same work). */
export function expectedCallsPerEvent({ kind }) {
  return kind === 'none' ? 0 : 1;
}
