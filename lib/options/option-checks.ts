import { InvalidOptionsError } from '../errors/invalid-options.error';

/** Small checks shared by the option validators; each throws `InvalidOptionsError` naming the option. */

export function positive(value: unknown, option: string, unit: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionsError(option, `must be a positive number${unit ? ` of ${unit}` : ''} (got ${describe(value)})`);
  }
}

export function nonNegative(value: unknown, option: string, unit: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new InvalidOptionsError(option, `must be a number >= 0${unit ? ` of ${unit}` : ''} (got ${describe(value)})`);
  }
}

/** A value as an error message shows it: strings quoted, plain objects as JSON, others by class. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'function') return `function ${value.name || 'anonymous'}`;
  if (value !== null && typeof value === 'object')
    return value.constructor?.name === 'Object' ? JSON.stringify(value) : `a ${value.constructor?.name ?? 'object'}`;
  return String(value);
}
