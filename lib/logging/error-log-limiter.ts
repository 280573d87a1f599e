import { MessageRejectedError } from '../errors/message-rejected.error';
import { PUBLISHER, SUBSCRIBER, type EventError } from '../errors/event.error';

/** The part of Nest's `Logger` the limiter writes to. */
export interface ErrorLogSink {
  error(message: string, stack?: string): void;
  warn(message: string): void;
}

export interface ErrorLogLimits {
  /** Lines per kind of error per interval before the rest are only counted. Default 5. */
  readonly perKind: number;
  /** Length of an interval in ms; suppressed errors are summarised when it ends. Default 10 000. */
  readonly intervalMs: number;
}

export const DEFAULT_ERROR_LOG_LIMITS: ErrorLogLimits = { perKind: 5, intervalMs: 10_000 };

interface Kind {
  logged: number;
  suppressed: number;
  /** The latest suppressed error, shown in the summary. */
  example: string;
}

/**
 * Writes the bus's errors to the log, once each, rate-limited: a listener failing on every event or
 * a flood of rejected messages gives a few lines and then one summary per interval ("1,578 more like
 * this"), never a line per event. A kind is the listener (or publisher/subscriber), the event and the
 * failure's type, plus the rejection reason for received messages.
 */
export class ErrorLogLimiter {
  private readonly kinds = new Map<string, Kind>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: ErrorLogSink,
    private readonly limits: ErrorLogLimits = DEFAULT_ERROR_LOG_LIMITS,
  ) {}

  report(error: EventError): void {
    const key = kindOf(error);
    let kind = this.kinds.get(key);
    if (kind === undefined) {
      kind = { logged: 0, suppressed: 0, example: '' };
      this.kinds.set(key, kind);
      // The interval starts with the first error; an idle bus keeps no timer.
      this.timer ??= this.startInterval();
    }
    if (kind.logged < this.limits.perKind) {
      kind.logged++;
      this.write(error);
    } else {
      kind.suppressed++;
      kind.example = error.message;
    }
  }

  /** Writes what is still suppressed and stops the interval (on close). */
  flush(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.summarise();
    this.kinds.clear();
  }

  private startInterval(): NodeJS.Timeout {
    const timer = setInterval(() => {
      // Kinds are forgotten every interval: any left means errors came in this one.
      const idle = this.kinds.size === 0;
      this.summarise();
      this.kinds.clear();
      if (idle) {
        clearInterval(timer);
        this.timer = undefined;
      }
    }, this.limits.intervalMs);
    timer.unref();
    return timer;
  }

  private summarise(): void {
    for (const kind of this.kinds.values()) {
      if (kind.suppressed === 0) continue;
      const seconds = Math.round(this.limits.intervalMs / 1000);
      this.sink.warn(
        `${kind.suppressed.toLocaleString('en-US')} more errors like this in the last ${seconds} s (not logged one by one): ${kind.example}`,
      );
      kind.suppressed = 0;
    }
  }

  private write(error: EventError): void {
    if (error.listener === SUBSCRIBER) {
      this.sink.warn(error.message);
      return;
    }
    const cause = error.cause;
    // A listener's own stack says where it failed; a publisher error's cause is the driver's.
    const stack = cause instanceof Error && error.listener !== PUBLISHER ? cause.stack : undefined;
    this.sink.error(error.message, stack);
  }
}

function kindOf(error: EventError): string {
  const cause = error.cause;
  const type = cause instanceof Error ? cause.name : typeof cause;
  const reason = cause instanceof MessageRejectedError ? `|${reasonKind(cause.reason)}` : '';
  return `${error.listener}|${error.eventName}|${type}${reason}`;
}

/** A rejection reason without its particulars (quoted values, numbers), so one flood is one kind. */
function reasonKind(reason: string): string {
  return reason.replace(/'[^']*'/g, "''").replace(/\d+/g, '#');
}
