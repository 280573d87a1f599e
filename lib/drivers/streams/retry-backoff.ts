import type { BackoffOptions } from '../../interfaces/listener-options.interface';

const DEFAULTS = { baseMs: 100, factor: 2, maxMs: 10_000 };

/**
 * Delay before attempt `failed + 1` after `failed` failures: `baseMs * factor^(failed-1)`, capped
 * at `maxMs` (the exponent is capped too, so many failures never overflow), with optional full jitter.
 */
export function retryDelayMs(failed: number, backoff: BackoffOptions | undefined): number {
  const baseMs = backoff?.baseMs ?? DEFAULTS.baseMs;
  const factor = backoff?.factor ?? DEFAULTS.factor;
  const maxMs = backoff?.maxMs ?? DEFAULTS.maxMs;
  const exponent = Math.min(Math.max(failed - 1, 0), 64);
  const raw = baseMs * Math.pow(factor, exponent);
  const delay = Number.isFinite(raw) ? Math.min(raw, maxMs) : maxMs;
  const bounded = Math.max(0, delay);
  return backoff?.jitter === true ? Math.random() * bounded : bounded;
}
