/** A class usable as an event: any constructor, optionally with `static fromJSON(data)`. */
export interface EventClass<T = unknown> {
  // never[]: every constructor is assignable whatever its parameters (the bus never calls it), without `any`.
  new (...args: never[]): T;
  fromJSON?(data: unknown): T;
}

/** What `@DomainEvent` records on a class. */
export interface DomainEventMetadata {
  /** Routing key (`event_name`). */
  readonly name: string;
  /** Registry key (`event_type`); the name unless versioned. */
  readonly type: string;
}
