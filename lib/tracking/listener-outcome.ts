/** How one listener call of a tracked dispatch ended, wherever it ran. */
export interface ListenerOutcome {
  /** `Class.method` (or the programmatic name); on redis-streams a remote one is its consumer group. */
  readonly listener: string;
  /** `local`: this process ran it; `remote`: another bus reported it. */
  readonly origin: 'local' | 'remote';
  readonly ok: boolean;
  /** The final failure (remote ones are a `RemoteListenerError`); absent when `ok`. */
  readonly error?: unknown;
  /** Calls made, retries included (on redis-streams: deliveries). */
  readonly attempts: number;
  /** Time the call took, retries and their waits included (the last delivery on redis-streams). */
  readonly durationMs: number;
}

/** What a dispatch may ask for besides the event. */
export interface DispatchOptions {
  /**
   * Follow the event to every listener it reaches, in every process, and bring each outcome back to
   * this handle. `timeoutMs` defaults to `redis.publishTimeoutMs`.
   */
  trackRemote?: boolean | { timeoutMs?: number };
}

/** Why a `trackRemote` value is not one, or undefined when it is. */
export function trackRemoteProblem(track: unknown): string | undefined {
  const timeoutMs = typeof track === 'object' && track !== null ? (track as { timeoutMs?: unknown }).timeoutMs : undefined;
  if (
    (track !== true && (typeof track !== 'object' || track === null)) ||
    (timeoutMs !== undefined && (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0))
  ) {
    return `must be true or { timeoutMs: <positive ms> } (got ${JSON.stringify(track) ?? String(track)})`;
  }
  return undefined;
}
