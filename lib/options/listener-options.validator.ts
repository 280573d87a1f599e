import { InvalidOptionsError } from '../errors/invalid-options.error';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import { describe } from './option-checks';

const LISTENER_KEYS = ['async', 'retry', 'breaker', 'concurrency', 'maxQueue', 'overflow', 'timeoutMs', 'filter'];
const RETRY_KEYS = ['attempts', 'backoff'];
const BACKOFF_KEYS = ['baseMs', 'factor', 'maxMs', 'jitter'];
const BREAKER_KEYS = ['threshold', 'cooldownMs', 'whenOpen'];
/** Longest delay setTimeout honours (a longer one would fire at once). */
const MAX_DELAY_MS = 2_147_483_647;

/** Validates one listener's options; `where` names it (`EmailNotifier.handle`). */
export function validateListenerOptions(options: ListenerOptions, where: string): void {
  const fail = (option: string, message: string): never => {
    throw new InvalidOptionsError(option, message, where);
  };
  if (options === null || typeof options !== 'object') {
    fail('options', `must be an object such as { async: true } (got ${describe(options)})`);
  }
  for (const key of Object.keys(options)) {
    if (!LISTENER_KEYS.includes(key)) fail(key, `is not a listener option; allowed: ${LISTENER_KEYS.join(', ')}`);
  }
  if (options.async !== undefined && typeof options.async !== 'boolean') {
    fail('async', `must be true or false (got ${describe(options.async)})`);
  }
  if (options.filter !== undefined && typeof options.filter !== 'function') {
    fail('filter', `must be a function (event) => boolean (got ${describe(options.filter)})`);
  }
  const { retry, breaker } = options;
  if (retry !== undefined) {
    objectWithKeys(retry, 'retry', RETRY_KEYS, '{ attempts: 3, backoff: { baseMs: 100 } }', fail);
    integerAtLeast(retry.attempts, 1, 'retry.attempts', 'calls in all, the first included (1 = no retry)', fail, true);
    const backoff = retry.backoff;
    if (backoff !== undefined) {
      objectWithKeys(backoff, 'retry.backoff', BACKOFF_KEYS, '{ baseMs: 100, factor: 2, maxMs: 10000, jitter: true }', fail);
      delay(backoff.baseMs, 'retry.backoff.baseMs', 0, fail);
      if (backoff.factor !== undefined && (typeof backoff.factor !== 'number' || !Number.isFinite(backoff.factor) || backoff.factor < 1)) {
        fail('retry.backoff.factor', `must be a number >= 1 (got ${describe(backoff.factor)})`);
      }
      delay(backoff.maxMs, 'retry.backoff.maxMs', 0, fail);
      if (backoff.maxMs !== undefined && backoff.baseMs !== undefined && backoff.maxMs < backoff.baseMs) {
        fail('retry.backoff.maxMs', `must be >= retry.backoff.baseMs (${backoff.baseMs}) (got ${backoff.maxMs})`);
      }
      if (backoff.jitter !== undefined && typeof backoff.jitter !== 'boolean') {
        fail('retry.backoff.jitter', `must be true or false (got ${describe(backoff.jitter)})`);
      }
    }
  }
  if (breaker !== undefined) {
    objectWithKeys(breaker, 'breaker', BREAKER_KEYS, "{ threshold: 5, cooldownMs: 1000, whenOpen: 'fail' }", fail);
    integerAtLeast(breaker.threshold, 1, 'breaker.threshold', 'consecutive failures that open it', fail, true);
    if (breaker.cooldownMs === undefined) fail('breaker.cooldownMs', 'is required: ms the breaker stays open, e.g. 1000');
    delay(breaker.cooldownMs, 'breaker.cooldownMs', 1, fail);
    if (breaker.whenOpen !== undefined && breaker.whenOpen !== 'fail' && breaker.whenOpen !== 'hold') {
      fail('breaker.whenOpen', `must be 'fail' or 'hold' (got ${describe(breaker.whenOpen)})`);
    }
  }
  integerAtLeast(options.concurrency, 1, 'concurrency', 'calls running at once', fail, false);
  if (options.maxQueue !== Number.POSITIVE_INFINITY) {
    integerAtLeast(options.maxQueue, 0, 'maxQueue', 'events waiting for a slot, or Infinity for no bound', fail, false);
  }
  if (options.maxQueue !== undefined && options.concurrency === undefined) {
    fail('maxQueue', 'needs concurrency: events only wait when concurrency calls are running (add e.g. concurrency: 1)');
  }
  if (options.overflow !== undefined) {
    if (options.overflow !== 'reject' && options.overflow !== 'drop-oldest') {
      fail('overflow', `must be 'reject' or 'drop-oldest' (got ${describe(options.overflow)})`);
    }
    if (options.concurrency === undefined) fail('overflow', 'needs concurrency: events only queue when concurrency calls are running');
    if (options.maxQueue === Number.POSITIVE_INFINITY)
      fail('overflow', 'has no effect with maxQueue: Infinity (an unbounded queue never overflows)');
  }
  delay(options.timeoutMs, 'timeoutMs', 1, fail);
}

function objectWithKeys(
  value: unknown,
  option: string,
  keys: string[],
  example: string,
  fail: (option: string, message: string) => never,
): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(option, `must be an object such as ${example} (got ${describe(value)})`);
  }
  for (const key of Object.keys(value as object)) {
    if (!keys.includes(key)) fail(`${option}.${key}`, `is not an option; allowed: ${keys.join(', ')}`);
  }
}

function integerAtLeast(
  value: unknown,
  min: number,
  option: string,
  what: string,
  fail: (option: string, message: string) => never,
  required: boolean,
): void {
  if (value === undefined && !required) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(option, `must be an integer >= ${min}, ${what} (got ${describe(value)})`);
  }
}

function delay(value: unknown, option: string, min: number, fail: (option: string, message: string) => never): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_DELAY_MS) {
    fail(option, `must be a number of ms from ${min} to ${MAX_DELAY_MS} (got ${describe(value)})`);
  }
}
