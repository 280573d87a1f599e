import { describeFailure, durationOf, encodeReportBatch, MAX_OUTCOMES, reportOf } from './report-codec';
import type { OutgoingReport } from './tracking-transport';

/** The reports a receiver sends one publisher in one message, encoded as they are added. */
export interface ReportBatch {
  readonly count: number;
  /** Characters encoded so far (about the bytes: names and ids are ASCII in practice). */
  readonly length: number;
  add(report: OutgoingReport): void;
  /** The message. */
  finish(): string;
}

/**
 * For publishers that read one JSON object per report (the first report format, `"v":1`): a bus
 * of an older version of this package. The message is one report, or an array of them.
 */
export class JsonReportBatch implements ReportBatch {
  private readonly reports: string[] = [];
  length = 0;

  constructor(
    private readonly reporter: string,
    private readonly withStack: boolean,
  ) {}

  get count(): number {
    return this.reports.length;
  }

  add(report: OutgoingReport): void {
    const encoded = reportOf(report.handleId, report.name, this.reporter, report.via, report.outcomes, this.withStack);
    this.reports.push(encoded);
    this.length += encoded.length + 1;
  }

  finish(): string {
    return encodeReportBatch(this.reports);
  }
}

/**
 * The compact format (`"v":2`), for publishers whose reports channel says they read it: the reporter
 * once per message, every event name, `via` and listener name once in `names`, and each report a
 * short array of indexes into it. A report costs a publisher a third of the parsing of a JSON object
 * per report (a receiver answering a few hundred copies in one read sends one such message).
 *
 *   {"v":2,"reporter":"<bus id>","names":[...],"reports":[[handle_id, name#, via#, outcome...], ...]}
 *   outcome: [listener#, attempts, duration_ms] when it succeeded,
 *            [listener#, attempts, duration_ms, {"name":…,"message":…,"stack"?:…}] when it failed
 */
export class CompactReportBatch implements ReportBatch {
  private readonly index = new Map<string, number>();
  private readonly names: string[] = [];
  private body = '';
  count = 0;

  constructor(
    private readonly reporter: string,
    private readonly withStack: boolean,
  ) {}

  get length(): number {
    return this.body.length;
  }

  add(report: OutgoingReport): void {
    let text =
      (this.count === 0 ? '[' : ',[') + JSON.stringify(report.handleId) + ',' + this.indexOf(report.name) + ',' + this.indexOf(report.via);
    const outcomes = report.outcomes;
    const n = Math.min(outcomes.length, MAX_OUTCOMES);
    for (let i = 0; i < n; i++) {
      const o = outcomes[i];
      text +=
        ',[' +
        this.indexOf(o.listener) +
        ',' +
        o.attempts +
        ',' +
        durationOf(o.durationMs) +
        (o.ok ? ']' : ',' + JSON.stringify(describeFailure(o.error, this.withStack)) + ']');
    }
    this.body += text + ']';
    this.count++;
  }

  finish(): string {
    return `{"v":2,"reporter":${JSON.stringify(this.reporter)},"names":${JSON.stringify(this.names)},"reports":[${this.body}]}`;
  }

  private indexOf(name: string): number {
    let i = this.index.get(name);
    if (i === undefined) {
      i = this.names.push(name) - 1;
      this.index.set(name, i);
    }
    return i;
  }
}
