import type { ConsumerGroupInfo, ConsumerGroupInspector } from '../interfaces/event-bus-driver.interface';

/**
 * Consumer group state for the gauges, read at a bounded rate: one batched read (every stream in
 * one pipeline) at most every `ttlMs`, shared by every collection in between; a read in progress is
 * joined, not repeated. A failed read yields nothing (no stale values reported as current).
 */
export class GroupStatsCache {
  private value: ConsumerGroupInfo[] = [];
  private readAt = -Infinity;
  private reading: Promise<ConsumerGroupInfo[]> | undefined;

  constructor(
    private readonly inspector: ConsumerGroupInspector,
    /** The events whose streams this app's listeners read. */
    private readonly eventNames: () => string[],
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  read(): Promise<ConsumerGroupInfo[]> {
    if (this.now() - this.readAt < this.ttlMs) return Promise.resolve(this.value);
    return (this.reading ??= this.refresh().finally(() => {
      this.reading = undefined;
    }));
  }

  private async refresh(): Promise<ConsumerGroupInfo[]> {
    try {
      this.value = ownGroups(await this.inspector.groups(this.eventNames()), this.inspector.serviceGroup);
    } catch {
      this.value = [];
    }
    this.readAt = this.now();
    return this.value;
  }
}

/** This app's groups (`serviceGroup:Listener`), not other services' groups on the same streams. */
export function ownGroups(groups: ConsumerGroupInfo[], serviceGroup: string | undefined): ConsumerGroupInfo[] {
  if (serviceGroup === undefined) return groups;
  const prefix = `${serviceGroup}:`;
  return groups.filter((g) => g.group.startsWith(prefix));
}
