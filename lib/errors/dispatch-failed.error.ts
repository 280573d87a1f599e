import type { EventError } from './event.error';

/** Thrown by `handle.orThrow()` when at least one listener (or the publisher) failed. */
export class DispatchFailedError extends Error {
  override readonly name = 'DispatchFailedError';
  constructor(
    readonly eventName: string,
    readonly handleId: string,
    readonly errors: readonly EventError[],
  ) {
    super(
      `dispatch of '${eventName}' failed with ${errors.length} error${errors.length === 1 ? '' : 's'}: ` +
        errors.map((e) => e.message).join('; '),
    );
  }
}
