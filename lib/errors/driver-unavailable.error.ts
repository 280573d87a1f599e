/** The transport could not take the event in time (Redis unreachable past `publishTimeoutMs`). */
export class DriverUnavailableError extends Error {
  override readonly name = 'DriverUnavailableError';
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
  }
}
