/** `handle.wait({ timeoutMs })` or `bus.wait({ timeoutMs })` ran out of time. */
export class DispatchTimeoutError extends Error {
  override readonly name = 'DispatchTimeoutError';
  constructor(
    readonly timeoutMs: number,
    what = 'dispatch',
  ) {
    super(`${what} did not settle within ${timeoutMs} ms`);
  }
}
