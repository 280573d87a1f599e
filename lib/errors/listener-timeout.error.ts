/** A listener call did not settle within its `timeoutMs`. */
export class ListenerTimeoutError extends Error {
  override readonly name = 'ListenerTimeoutError';
  constructor(readonly timeoutMs: number) {
    super(`listener did not settle within ${timeoutMs} ms (timeoutMs)`);
  }
}
