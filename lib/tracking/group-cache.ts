/** How long a stream's group list is used before it is read again (in the background). */
const FRESH_MS = 1_000;
/** Streams whose group lists are kept (dynamic event names must not grow memory without bound). */
const MAX_STREAMS = 1_000;

interface CachedGroups {
  groups: readonly string[];
  readAt: number;
  refreshing: boolean;
  /** Groups this bus created since the read began: a refresh that started before cannot have seen them. */
  addedSinceRead: string[];
}

/**
 * The consumer groups of each stream, for tracked appends on redis-streams: the first tracked
 * dispatch of an event reads them (one round trip), later ones use the list at once (no promise)
 * and refresh it in the background once it is older than a second, so a tracked dispatch costs no
 * extra round trip. A group this bus creates is in the list from then on; one created by another
 * process is seen by the next refresh (up to a second later).
 */
export class GroupCache {
  private readonly lists = new Map<string, CachedGroups>();
  /** Groups created by this bus on streams not read yet, kept until a read of that stream settles. */
  private readonly created = new Map<string, Set<string>>();

  constructor(private readonly read: (eventName: string) => Promise<readonly string[]>) {}

  /** The groups, synchronously when known (the common case), else after their first read. */
  groups(eventName: string): readonly string[] | Promise<readonly string[]> {
    const cached = this.lists.get(eventName);
    if (cached === undefined) return this.firstRead(eventName);
    if (!cached.refreshing && Date.now() - cached.readAt > FRESH_MS) this.refresh(eventName, cached);
    return cached.groups;
  }

  /** This bus created (or found) `group` on the stream of `eventName`: expected from now on. */
  added(eventName: string, group: string): void {
    const cached = this.lists.get(eventName);
    if (cached === undefined) {
      // A first read in flight may have missed it: merged when it lands.
      let set = this.created.get(eventName);
      if (set === undefined) {
        if (this.created.size >= MAX_STREAMS) this.created.clear();
        this.created.set(eventName, (set = new Set()));
      }
      set.add(group);
      return;
    }
    if (!cached.groups.includes(group)) cached.groups = [...cached.groups, group];
    if (cached.refreshing) cached.addedSinceRead.push(group);
  }

  private async firstRead(eventName: string): Promise<readonly string[]> {
    const groups = this.merge(await this.read(eventName), this.created.get(eventName));
    this.created.delete(eventName);
    if (this.lists.size >= MAX_STREAMS) this.lists.clear();
    this.lists.set(eventName, { groups, readAt: Date.now(), refreshing: false, addedSinceRead: [] });
    return groups;
  }

  private refresh(eventName: string, cached: CachedGroups): void {
    cached.refreshing = true;
    cached.addedSinceRead = [];
    this.read(eventName).then(
      (groups) => {
        cached.groups = this.merge(groups, cached.addedSinceRead);
        cached.readAt = Date.now();
        cached.refreshing = false;
        cached.addedSinceRead = [];
      },
      () => {
        cached.refreshing = false;
      },
    );
  }

  private merge(read: readonly string[], added: Iterable<string> | undefined): readonly string[] {
    if (added === undefined) return read;
    let groups = read;
    for (const group of added) if (!groups.includes(group)) groups = [...groups, group];
    return groups;
  }
}
