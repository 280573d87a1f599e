/** How long a stream's group list is used before it is read again (in the background). */
const FRESH_MS = 1_000;
/** Streams whose group lists are kept (dynamic event names must not grow memory without bound). */
const MAX_STREAMS = 1_000;

/**
 * The consumer groups of each stream, for tracked appends on redis-streams: the first tracked
 * dispatch of an event reads them (one round trip), later ones use the list and refresh it in
 * the background once it is older than a second, so a tracked dispatch costs no extra round trip.
 */
export class GroupCache {
  private readonly lists = new Map<string, { groups: readonly string[]; readAt: number; refreshing: boolean }>();

  constructor(private readonly read: (eventName: string) => Promise<readonly string[]>) {}

  async groups(eventName: string): Promise<readonly string[]> {
    const cached = this.lists.get(eventName);
    if (cached === undefined) {
      const groups = await this.read(eventName);
      if (this.lists.size >= MAX_STREAMS) this.lists.clear();
      this.lists.set(eventName, { groups, readAt: Date.now(), refreshing: false });
      return groups;
    }
    if (!cached.refreshing && Date.now() - cached.readAt > FRESH_MS) {
      cached.refreshing = true;
      this.read(eventName).then(
        (groups) => this.lists.set(eventName, { groups, readAt: Date.now(), refreshing: false }),
        () => {
          cached.refreshing = false;
        },
      );
    }
    return cached.groups;
  }
}
