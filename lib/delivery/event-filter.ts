import type { ListenerCall } from '../routing/listener-entry';

/**
 * docker/go-events' Filter: events `filter` returns false for never reach the listener and are
 * not errors (they are counted through `onFiltered`). A filter that throws fails the event.
 */
export function withFilter(inner: ListenerCall, filter: (event: unknown) => boolean, onFiltered: () => void): ListenerCall {
  return (event, meta, eventName) => {
    if (filter(event)) return inner(event, meta, eventName);
    onFiltered();
    return undefined;
  };
}
