import type { LoggerService } from '@nestjs/common';

/** Every line written through Nest's logger, with its context. */
export class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string; context: string | undefined }> = [];
  log(message: unknown, context?: string): void {
    this.lines.push({ level: 'log', message: String(message), context });
  }
  warn(message: unknown, context?: string): void {
    this.lines.push({ level: 'warn', message: String(message), context });
  }
  error(message: unknown, _stack?: string, context?: string): void {
    this.lines.push({ level: 'error', message: String(message), context });
  }
  debug(message: unknown, context?: string): void {
    this.lines.push({ level: 'debug', message: String(message), context });
  }
  verbose(message: unknown, context?: string): void {
    this.lines.push({ level: 'verbose', message: String(message), context });
  }
}
