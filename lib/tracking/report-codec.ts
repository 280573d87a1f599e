import { MessageRejectedError } from '../errors/message-rejected.error';

/** Bounds that keep a report small whatever the listeners threw. */
const MAX_REPORT_BYTES = 256 * 1024;
/** A report message may carry several reports (one per copy a receiver answered in one tick). */
const MAX_BATCH = 1000;
/** Past this size a receiver starts another message (well under the limit a publisher accepts). */
export const BATCH_BYTES = 64 * 1024;
export const MAX_OUTCOMES = 1000;
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
  let outcomes = '';
  const list = report.outcomes;
  const n = Math.min(list.length, MAX_OUTCOMES);
  for (let i = 0; i < n; i++) {
    const o = list[i];
    outcomes += encodeOutcome(i, o.listener, o.ok, o.attempts, o.durationMs, o.error);
  }
  return encodeHead(report.handleId, report.eventName, report.reporter, report.via) + outcomes + ']}';
}

/** A report up to its outcomes list (open): the fields every report has, in wire order. */
function encodeHead(handleId: string, eventName: string, reporter: string, via: string): string {
  return (
    '{"v":1,"handle_id":' +
    JSON.stringify(handleId) +
    ',"event_name":' +
    JSON.stringify(eventName) +
    ',"reporter":' +
    JSON.stringify(reporter) +
    ',"via":' +
    JSON.stringify(via) +
    ',"outcomes":['
  );
}

/** One outcome of the list (the `i`th: a comma before all but the first). */
function encodeOutcome(
  i: number,
  listener: string,
  ok: boolean,
  attempts: number,
  durationMs: number,
  error: ReportedOutcome['error'] | undefined,
): string {
  return (
    (i === 0 ? '{"listener":' : ',{"listener":') +
    JSON.stringify(listener) +
    (ok ? ',"ok":true,"attempts":' : ',"ok":false,"attempts":') +
    attempts +
    ',"duration_ms":' +
    durationOf(durationMs) +
    (error !== undefined ? `,"error":${JSON.stringify(error)}}` : '}')
  );
}

/** Milliseconds to three decimals; a clock that went backwards (or nothing measured) reports 0. */
export function durationOf(ms: number): number {
  return ms >= 0 && ms < Infinity ? Math.round(ms * 1000) / 1000 : 0;
}

/** One message for several encoded reports (a JSON array); a single one travels as itself. */
export function encodeReportBatch(reports: readonly string[]): string {
  return reports.length === 1 ? reports[0] : '[' + reports.join(',') + ']';
}

/** What one report message held: the reports that are well formed, and why each other one was refused. */
export interface DecodedReports {
  readonly reports: TrackingReport[];
  readonly refused: MessageRejectedError[];
}

/**
 * Decodes one report message: a report object, or an array of them (a batch). Throws
 * `MessageRejectedError` (with `channel`, size and the reason) when the message as a whole is
 * unusable (too big, not JSON, neither an object nor a non-empty array of at most 1,000); a
 * malformed report inside a batch is refused alone, the others still count.
 */
export function decodeReports(raw: Buffer | string, channel: string): DecodedReports {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_REPORT_BYTES) throw rejected(channel, size, `over ${MAX_REPORT_BYTES} bytes`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof raw === 'string' ? raw : raw.toString('utf8'));
  } catch (err) {
    throw rejected(channel, size, `malformed JSON (${(err as Error).message})`);
  }
  const reports: TrackingReport[] = [];
  const refused: MessageRejectedError[] = [];
  if (isObject(parsed) && parsed.v === 2) return decodeCompact(parsed, channel, size);
  if (Array.isArray(parsed)) {
    if (parsed.length === 0 || parsed.length > MAX_BATCH)
      throw rejected(channel, size, `a batch of ${parsed.length} reports (1 to ${MAX_BATCH})`);
    for (let i = 0; i < parsed.length; i++) {
      const why = validate(parsed[i]);
      if (why === undefined) reports.push(toReport(parsed[i] as WireReport));
      else refused.push(rejected(channel, size, `report ${i} of the batch: ${why}`));
    }
    return { reports, refused };
  }
  const why = validate(parsed);
  if (why !== undefined) throw rejected(channel, size, why);
  reports.push(toReport(parsed as WireReport));
  return { reports, refused };
}

/** Entries of a compact message's `names` at most: every report naming other names than the last. */
const MAX_NAMES = 4 * MAX_BATCH;

const isIndex = (value: unknown, count: number): boolean => Number.isInteger(value) && (value as number) >= 0 && (value as number) < count;

/** A compact message (`"v":2`, see `CompactReportBatch`): the reporter and the names once, each report an array. */
function decodeCompact(parsed: Record<string, unknown>, channel: string, size: number): DecodedReports {
  const { reporter, names, reports: list } = parsed;
  if (!isShortString(reporter)) throw rejected(channel, size, 'reporter is not a short string');
  if (!Array.isArray(names) || names.length > MAX_NAMES || !names.every(isShortString)) {
    throw rejected(channel, size, `names is not a list of at most ${MAX_NAMES} short strings`);
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_BATCH) {
    throw rejected(channel, size, `a batch of ${Array.isArray(list) ? list.length : 'no'} reports (1 to ${MAX_BATCH})`);
  }
  const reports: TrackingReport[] = [];
  const refused: MessageRejectedError[] = [];
  for (let i = 0; i < list.length; i++) {
    const why = validateCompact(list[i], names.length);
    if (why === undefined) reports.push(compactReport(list[i] as CompactWireReport, names as string[], reporter as string));
    else refused.push(rejected(channel, size, `report ${i} of the batch: ${why}`));
  }
  return { reports, refused };
}

/** `[handle_id, name#, via#, ...outcomes]`; an outcome `[listener#, attempts, duration_ms(, error)]`. */
type CompactWireReport = [string, number, number, ...Array<[number, number, number, { name: string; message: string; stack?: unknown }?]>];

/** Why a compact report is none (undefined: it is one). */
function validateCompact(r: unknown, names: number): string | undefined {
  if (!Array.isArray(r) || r.length < 3 || r.length > 3 + MAX_OUTCOMES) return 'not a [handle_id, name, via, ...outcomes] list';
  if (typeof r[0] !== 'string' || !HANDLE_ID.test(r[0])) return 'handle_id is not 16 lowercase hex chars';
  if (!isIndex(r[1], names)) return 'its event name is no index into names';
  if (!isIndex(r[2], names)) return 'its via is no index into names';
  for (let j = 3; j < r.length; j++) {
    const o: unknown = r[j];
    const i = j - 3;
    if (!Array.isArray(o) || (o.length !== 3 && o.length !== 4))
      return `outcome ${i} is not a [listener, attempts, duration_ms, error?] list`;
    if (!isIndex(o[0], names)) return `outcome ${i}: its listener is no index into names`;
    if (!Number.isInteger(o[1]) || (o[1] as number) < 1) return `outcome ${i}: attempts is not a positive integer`;
    if (typeof o[2] !== 'number' || !(o[2] >= 0)) return `outcome ${i}: duration_ms is not a duration`;
    if (o.length === 4) {
      const e: unknown = o[3];
      if (!isObject(e) || typeof e.name !== 'string' || typeof e.message !== 'string')
        return `outcome ${i} failed without an error name and message`;
    }
  }
  return undefined;
}

function compactReport(r: CompactWireReport, names: readonly string[], reporter: string): TrackingReport {
  const outcomes: ReportedOutcome[] = new Array(r.length - 3);
  for (let j = 3; j < r.length; j++) {
    const o = r[j] as [number, number, number, { name: string; message: string; stack?: unknown }?];
    const e = o[3];
    outcomes[j - 3] =
      e === undefined
        ? { listener: names[o[0]], ok: true, attempts: o[1], durationMs: o[2] }
        : { listener: names[o[0]], ok: false, attempts: o[1], durationMs: o[2], error: failureOf(e) };
  }
  return { handleId: r[0], eventName: names[r[1]], reporter, via: names[r[2]], outcomes };
}

/** A reported failure, its texts cut to the bounds (a publisher never holds more than that of one). */
function failureOf(e: { name: string; message: string; stack?: unknown }): NonNullable<ReportedOutcome['error']> {
  return {
    name: e.name.slice(0, MAX_NAME),
    message: e.message.slice(0, MAX_MESSAGE),
    ...(typeof e.stack === 'string' ? { stack: e.stack.slice(0, MAX_STACK) } : {}),
  };
}

/** One report on its own; throws `MessageRejectedError` for anything that is not exactly one well-formed report. */
export function decodeReport(raw: Buffer | string, channel: string): TrackingReport {
  const { reports, refused } = decodeReports(raw, channel);
  if (refused.length > 0) throw refused[0];
  if (reports.length !== 1)
    throw rejected(channel, typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length, 'a batch, not one report');
  return reports[0];
}

function rejected(channel: string, size: number, reason: string): MessageRejectedError {
  return new MessageRejectedError(channel, size, `tracking report: ${reason}`);
}

interface WireOutcome {
  listener: string;
  ok: boolean;
  attempts: number;
  duration_ms: number;
  error?: { name: string; message: string; stack?: unknown };
}
interface WireReport {
  handle_id: string;
  event_name: string;
  reporter: string;
  via: string;
  outcomes: WireOutcome[];
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const isShortString = (value: unknown): boolean => typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME;

const NAMED_FIELDS = ['event_name', 'reporter', 'via'] as const;

/** Why a parsed value is no report (undefined: it is one). */
function validate(parsed: unknown): string | undefined {
  if (!isObject(parsed)) return 'not a JSON object';
  if (parsed.v !== 1) return `unknown version ${JSON.stringify(parsed.v)}`;
  if (typeof parsed.handle_id !== 'string' || !HANDLE_ID.test(parsed.handle_id)) return 'handle_id is not 16 lowercase hex chars';
  for (const key of NAMED_FIELDS) if (!isShortString(parsed[key])) return `${key} is not a short string`;
  const outcomes = parsed.outcomes;
  if (!Array.isArray(outcomes) || outcomes.length > MAX_OUTCOMES) return 'outcomes is not a list';
  for (let i = 0; i < outcomes.length; i++) {
    const entry: unknown = outcomes[i];
    if (!isObject(entry)) return `outcome ${i} is not an object`;
    if (!isShortString(entry.listener)) return `outcome ${i} has no listener name`;
    if (typeof entry.ok !== 'boolean') return `outcome ${i}: ok is not a boolean`;
    if (!Number.isInteger(entry.attempts) || (entry.attempts as number) < 1) return `outcome ${i}: attempts is not a positive integer`;
    if (typeof entry.duration_ms !== 'number' || !(entry.duration_ms >= 0)) return `outcome ${i}: duration_ms is not a duration`;
    if (entry.ok === false) {
      const e = entry.error;
      if (!isObject(e) || typeof e.name !== 'string' || typeof e.message !== 'string')
        return `outcome ${i} failed without an error name and message`;
    }
  }
  return undefined;
}

function toReport(r: WireReport): TrackingReport {
  const outcomes: ReportedOutcome[] = new Array(r.outcomes.length);
  for (let i = 0; i < r.outcomes.length; i++) {
    const o = r.outcomes[i];
    outcomes[i] =
      o.ok === true
        ? { listener: o.listener, ok: true, attempts: o.attempts, durationMs: o.duration_ms }
        : {
            listener: o.listener,
            ok: false,
            attempts: o.attempts,
            durationMs: o.duration_ms,
            error: failureOf(o.error!),
          };
  }
  return { handleId: r.handle_id, eventName: r.event_name, reporter: r.reporter, via: r.via, outcomes };
}

/**
 * The report a receiver sends for one tracked copy, from the outcomes its listeners left in
 * `outcomes`: encoded straight from them (a report per copy received, so no intermediate objects).
 */
export function reportOf(
  handleId: string,
  eventName: string,
  reporter: string,
  via: string,
  outcomes: readonly { listener: string; ok: boolean; error?: unknown; attempts: number; durationMs: number }[],
  withStack: boolean,
): string {
  let list = '';
  const n = Math.min(outcomes.length, MAX_OUTCOMES);
  for (let i = 0; i < n; i++) {
    const o = outcomes[i];
    list += encodeOutcome(i, o.listener, o.ok, o.attempts, o.durationMs, o.ok ? undefined : describeFailure(o.error, withStack));
  }
  return encodeHead(handleId, eventName, reporter, via) + list + ']}';
}
