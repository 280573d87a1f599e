/** `dispatch()` was given something that is not an event. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}
