import { isPattern } from '../../routing/event-pattern';

/** Characters Redis glob patterns treat specially; escaped where a name must match literally. */
const GLOB_SPECIAL = /[\\*?[\]]/g;

function escapeGlob(text: string): string {
  return text.replace(GLOB_SPECIAL, '\\$&');
}

/**
 * How a subscription key maps to Redis pub/sub: an event name is one channel
 * (`prefix + name`, goevent's layout); a `*` / `**` pattern becomes a PSUBSCRIBE glob.
 * Redis `*` also matches dots, so the glob is a superset of the pattern; the bus filters
 * exactly by event name afterwards.
 */
export interface RedisSubscriptionTarget {
  readonly kind: 'channel' | 'pattern';
  /** The channel name, or the glob. */
  readonly name: string;
}

export function subscriptionTarget(prefix: string, key: string): RedisSubscriptionTarget {
  if (!isPattern(key)) return { kind: 'channel', name: prefix + key };
  const glob = key
    .split('.')
    .map((segment) => (segment === '*' || segment === '**' ? '*' : escapeGlob(segment)))
    .join('.');
  return { kind: 'pattern', name: escapeGlob(prefix) + glob };
}
