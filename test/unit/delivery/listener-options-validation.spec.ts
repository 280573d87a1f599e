import { describe, expect, it } from 'vitest';
import { InvalidOptionsError } from '../../../lib/errors';
import type { ListenerOptions } from '../../../lib/interfaces/listener-options.interface';
import { validateListenerOptions } from '../../../lib/options/listener-options.validator';

const check = (options: unknown) => () => validateListenerOptions(options as ListenerOptions, 'Billing.onOrder');

describe('validateListenerOptions: delivery policies', () => {
  it('accepts every policy with valid values', () => {
    expect(
      check({
        async: true,
        retry: { attempts: 5, backoff: { baseMs: 100, factor: 2, maxMs: 10_000, jitter: true } },
        breaker: { threshold: 5, cooldownMs: 1_000, whenOpen: 'hold' },
        concurrency: 4,
        maxQueue: 10_000,
        overflow: 'drop-oldest',
        timeoutMs: 5_000,
        filter: () => true,
      }),
    ).not.toThrow();
    expect(check({ retry: { attempts: 1 } })).not.toThrow();
    expect(check({ concurrency: 1, maxQueue: 0 })).not.toThrow();
    expect(check({ concurrency: 1, maxQueue: Number.POSITIVE_INFINITY })).not.toThrow();
    expect(check({ concurrency: 1, overflow: 'drop-oldest' })).not.toThrow();
  });

  it.each([
    [{ retry: 3 }, /Billing\.onOrder: retry' must be an object such as \{ attempts: 3/],
    [{ retry: {} }, /Billing\.onOrder: retry\.attempts' must be an integer >= 1.*got undefined/],
    [{ retry: { attempts: 0 } }, /retry\.attempts' must be an integer >= 1.*got 0/],
    [{ retry: { attempts: 2.5 } }, /retry\.attempts' must be an integer >= 1/],
    [{ retry: { attempts: 3, tries: 1 } }, /retry\.tries' is not an option; allowed: attempts, backoff/],
    [{ retry: { attempts: 3, backoff: { baseMs: -1 } } }, /retry\.backoff\.baseMs' must be a number of ms from 0 to 2147483647 \(got -1\)/],
    [{ retry: { attempts: 3, backoff: { factor: 0.5 } } }, /retry\.backoff\.factor' must be a number >= 1 \(got 0\.5\)/],
    [{ retry: { attempts: 3, backoff: { baseMs: 100, maxMs: 10 } } }, /retry\.backoff\.maxMs' must be >= retry\.backoff\.baseMs \(100\)/],
    [{ retry: { attempts: 3, backoff: { maxMs: Infinity } } }, /retry\.backoff\.maxMs' must be a number of ms/],
    [{ retry: { attempts: 3, backoff: { jitter: 'full' } } }, /retry\.backoff\.jitter' must be true or false/],
    [{ retry: { attempts: 3, backoff: { base: 1 } } }, /retry\.backoff\.base' is not an option; allowed: baseMs, factor, maxMs, jitter/],
    [{ breaker: { cooldownMs: 10 } }, /breaker\.threshold' must be an integer >= 1/],
    [{ breaker: { threshold: 3 } }, /breaker\.cooldownMs' is required/],
    [{ breaker: { threshold: 3, cooldownMs: 0 } }, /breaker\.cooldownMs' must be a number of ms from 1/],
    [{ breaker: { threshold: 3, cooldownMs: 10, whenOpen: 'drop' } }, /breaker\.whenOpen' must be 'fail' or 'hold' \(got 'drop'\)/],
    [{ concurrency: 0 }, /concurrency' must be an integer >= 1/],
    [{ concurrency: 1, maxQueue: -1 }, /maxQueue' must be an integer >= 0/],
    [{ maxQueue: 10 }, /maxQueue' needs concurrency/],
    [{ concurrency: 1, maxQueue: 10, overflow: 'drop-newest' }, /overflow' must be 'reject' or 'drop-oldest' \(got 'drop-newest'\)/],
    [{ overflow: 'reject' }, /overflow' needs concurrency/],
    [{ concurrency: 1, maxQueue: Number.POSITIVE_INFINITY, overflow: 'drop-oldest' }, /overflow' has no effect with maxQueue: Infinity/],
    [{ concurrency: 1, maxQueue: -1 }, /maxQueue' must be an integer >= 0, events waiting for a slot, or Infinity for no bound/],
    [{ timeoutMs: 0 }, /timeoutMs' must be a number of ms from 1 to 2147483647/],
    [{ timeoutMs: 3_000_000_000 }, /timeoutMs' must be a number of ms from 1 to 2147483647/],
  ])('refuses %j with a message naming listener, option and allowed values', (options, message) => {
    let error: unknown;
    try {
      check(options)();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toMatch(/^listener option 'Billing\.onOrder: /);
    expect((error as Error).message).toMatch(message);
    expect((error as InvalidOptionsError).listener).toBe('Billing.onOrder');
  });
});
