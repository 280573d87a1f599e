import { lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { bootApp, sleep } from '../support/boot-app';

describe('observe() on a closed bus', () => {
  it('completes at once instead of raising an error no subscriber asked for', async () => {
    const { bus, close } = await bootApp();
    await close();
    const seen: string[] = [];
    bus.observe('gap.*').subscribe({ next: () => seen.push('next'), complete: () => seen.push('complete') });
    // A subscriber with no error callback: an error here would surface as an uncaught exception.
    bus.observe('gap.*').subscribe(() => seen.push('next'));
    await sleep(10);
    expect(seen).toEqual(['complete']);
  });
});

describe('observe() streams end with the bus', () => {
  it('an open observe() completes when the bus closes, so lastValueFrom resolves with the last event', async () => {
    const { bus, close } = await bootApp();
    const last = lastValueFrom(bus.observe<{ n: number }>('gap.tick'));
    bus.dispatch('gap.tick', { n: 1 });
    bus.dispatch('gap.tick', { n: 2 });
    await close();
    await expect(last).resolves.toEqual({ n: 2 });
  });
});
