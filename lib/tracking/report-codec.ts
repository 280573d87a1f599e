import { MessageRejectedError } from '../errors/message-rejected.error';

/** Bounds that keep a report small whatever the listeners threw. */
const MAX_REPORT_BYTES = 256 * 1024;
const MAX_OUTCOMES = 1000;
const MAX_MESSAGE = 2000;
const MAX_STACK = 8000;
const MAX_NAME = 512;
const HANDLE_ID = /^[0-9a-f]{16}$/;

/** One listener's outcome as it travels back to the publisher. */
export interface ReportedOutcome {
  readonly listener: string;
  readonly ok: boolean;
  readonly attempts: number;
  readonly durationMs: number;
  readonly error?: { readonly name: string; readonly message: string; readonly stack?: string };
}

/**
 * What a receiver sends back for one tracked event: never the event itself. `reporter` is the bus
 * that ran the listeners, `via` what received the copy: the subscribed channel or pattern (redis
 * pub/sub) or the consumer group (redis-streams).
 */
export interface TrackingReport {
  readonly handleId: string;
  readonly eventName: string;
  readonly reporter: string;
  readonly via: string;
  readonly outcomes: readonly ReportedOutcome[];
}

/** A listener's failure as a report carries it: name and message, the stack only when asked. */
export function describeFailure(error: unknown, withStack: boolean): NonNullable<ReportedOutcome['error']> {
  if (error instanceof Error) {
    const name = typeof error.name === 'string' ? error.name : 'Error';
    const message = typeof error.message === 'string' ? error.message : String(error.message);
    return {
      name: name.slice(0, MAX_NAME),
      message: message.slice(0, MAX_MESSAGE),
      ...(withStack && typeof error.stack === 'string' ? { stack: error.stack.slice(0, MAX_STACK) } : {}),
    };
  }
  let text: string;
  try {
    text = typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error));
  } catch {
    text = Object.prototype.toString.call(error);
  }
  return { name: 'non-Error thrown', message: text.slice(0, MAX_MESSAGE) };
}

export function encodeReport(report: TrackingReport): string {
  return JSON.stringify({
    v: 1,
    handle_id: report.handleId,
    event_name: report.eventName,
    reporter: report.reporter,
    via: report.via,
    outcomes: report.outcomes.slice(0, MAX_OUTCOMES).map((o) => ({
      listener: o.listener,
      ok: o.ok,
      attempts: o.attempts,
      duration_ms: Math.round(o.durationMs * 1000) / 1000,
      ...(o.error !== undefined ? { error: o.error } : {}),
    })),
  });
}

/** Throws `MessageRejectedError` (with `channel`, size and the reason) for anything that is not a well-formed report. */
export function decodeReport(raw: Buffer | string, channel: string): TrackingReport {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  const reject = (reason: string): never => {
    throw new MessageRejectedError(channel, size, `tracking report: ${reason}`);
  };
  if (size > MAX_REPORT_BYTES) reject(`over ${MAX_REPORT_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    return reject(`malformed JSON (${(err as Error).message})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return reject('not a JSON object');
  const r = parsed as Record<string, unknown>;
  if (r.v !== 1) reject(`unknown version ${JSON.stringify(r.v)}`);
  if (typeof r.handle_id !== 'string' || !HANDLE_ID.test(r.handle_id)) reject('handle_id is not 16 lowercase hex chars');
  const text = (key: string): string => {
    const value = r[key];
    if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NAME) reject(`${key} is not a short string`);
    return value as string;
  };
  const eventName = text('event_name');
  const reporter = text('reporter');
  const via = text('via');
  if (!Array.isArray(r.outcomes) || r.outcomes.length > MAX_OUTCOMES) return reject('outcomes is not a list');
  const outcomes = r.outcomes.map((o: unknown, i: number): ReportedOutcome => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) return reject(`outcome ${i} is not an object`);
    const entry = o as Record<string, unknown>;
    if (typeof entry.listener !== 'string' || entry.listener.length === 0 || entry.listener.length > MAX_NAME) {
      reject(`outcome ${i} has no listener name`);
    }
    if (typeof entry.ok !== 'boolean') reject(`outcome ${i}: ok is not a boolean`);
    if (!Number.isInteger(entry.attempts) || (entry.attempts as number) < 1) reject(`outcome ${i}: attempts is not a positive integer`);
    if (typeof entry.duration_ms !== 'number' || !(entry.duration_ms >= 0)) reject(`outcome ${i}: duration_ms is not a duration`);
    let error: ReportedOutcome['error'];
    if (entry.ok === false) {
      const e = entry.error as Record<string, unknown> | undefined;
      if (e === null || typeof e !== 'object' || typeof e.name !== 'string' || typeof e.message !== 'string') {
        reject(`outcome ${i} failed without an error name and message`);
      }
      error = {
        name: (e!.name as string).slice(0, MAX_NAME),
        message: (e!.message as string).slice(0, MAX_MESSAGE),
        ...(typeof e!.stack === 'string' ? { stack: e!.stack.slice(0, MAX_STACK) } : {}),
      };
    }
    return {
      listener: entry.listener as string,
      ok: entry.ok as boolean,
      attempts: entry.attempts as number,
      durationMs: entry.duration_ms as number,
      ...(error !== undefined ? { error } : {}),
    };
  });
  return { handleId: r.handle_id as string, eventName, reporter, via, outcomes };
}

/** The report a receiver sends for one tracked copy, from the outcomes its listeners left in `outcomes`. */
export function reportOf(
  handleId: string,
  eventName: string,
  reporter: string,
  via: string,
  outcomes: readonly { listener: string; ok: boolean; error?: unknown; attempts: number; durationMs: number }[],
  withStack: boolean,
): string {
  return encodeReport({
    handleId,
    eventName,
    reporter,
    via,
    outcomes: outcomes.map((o) => ({
      listener: o.listener,
      ok: o.ok,
      attempts: o.attempts,
      durationMs: o.durationMs,
      ...(o.ok ? {} : { error: describeFailure(o.error, withStack) }),
    })),
  });
}
