/** A class usable as an event: any constructor, optionally with `static fromJSON(data)`. */
export interface EventClass<T = unknown> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- event constructors take any arguments
  new (...args: any[]): T;
  fromJSON?(data: unknown): T;
}

/** What `@DomainEvent` records on a class. */
export interface DomainEventMetadata {
  /** Routing key (`event_name`). */
  readonly name: string;
  /** Registry key (`event_type`); the name unless versioned. */
  readonly type: string;
}
