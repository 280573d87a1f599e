/** Two different classes claim one registry key. */
export class DuplicateEventTypeError extends Error {
  override readonly name = 'DuplicateEventTypeError';
  constructor(
    readonly type: string,
    existing: string,
    incoming: string,
  ) {
    super(
      `event type '${type}' is already registered to class ${existing}; cannot register class ${incoming} under it ` +
        `(give one of them another key: @DomainEvent(name, { type: '...' }))`,
    );
  }
}
