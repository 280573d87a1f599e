/** Too many tracked dispatches are waiting for their reports: this one was refused at once. */
export class TrackingLimitError extends Error {
  override readonly name = 'TrackingLimitError';

  constructor(readonly maxInFlight: number) {
    super(
      `${maxInFlight} tracked dispatches are already waiting for remote reports (tracking.maxInFlight); ` +
        'this one was not sent: await earlier tracked handles first, dispatch it untracked, or raise tracking.maxInFlight',
    );
  }
}
