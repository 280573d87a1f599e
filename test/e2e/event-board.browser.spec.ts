import { Injectable } from '@nestjs/common';
import { OnEvent, DeadLetterService } from 'nestjs-event-bus';
import type { Browser, Page } from 'playwright-core';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { trace } from '@opentelemetry/api';
import { BusRuntime } from '../../lib/core/bus-runtime';
import { launchChromium, onlyLoopback, openWatchedPage } from '../support/board-browser';
import { bootApp, type BootedApp } from '../support/boot-app';
import { installOtel, spansNamed, type OtelHarness } from '../support/otel';
import { bootBoardApp, OrderPlaced, type BoardApp } from '../support/board-test-app';
import { RedisServer } from '../support/redis-server';
import { freshPrefix, until } from '../support/streams-test-app';

const tracer = trace.getTracer('test');
let browser: Browser;
const apps: BoardApp[] = [];
const pages: Page[] = [];

async function boot(...args: Parameters<typeof bootBoardApp>): Promise<BoardApp> {
  const app = await bootBoardApp(...args);
  apps.push(app);
  return app;
}

beforeAll(async () => {
  browser = await launchChromium();
});
afterEach(async () => {
  await Promise.all(pages.splice(0).map((p) => p.close()));
  await Promise.all(apps.splice(0).map((a) => a.close()));
});
afterAll(async () => {
  await browser?.close();
});

async function open(url: string) {
  const watched = await openWatchedPage(browser, url);
  pages.push(watched.page);
  return watched;
}

const counter = (page: Page, name: string) => page.locator(`[data-counter="${name}"] dd`);

for (const platform of ['express', 'fastify'] as const) {
  describe(`event board in a browser (${platform}, memory driver)`, () => {
    it('loads with no console errors and no request off loopback; shows listeners; counters, events and errors update live', async () => {
      const { url, bus } = await boot({}, { platform });
      const { page, requests, problems } = await open(`${url}/_events`);
      await page.getByRole('table', { name: 'Listeners' }).locator('tr[data-listener="order.placed Billing.charge"]').waitFor();
      const listeners = page.getByRole('table', { name: 'Listeners' });
      await expect(listeners.locator('tr[data-listener="order.placed Billing.receipt"]').innerText()).resolves.toMatch(
        /async\s+breaker 5 \/ 1000 ms\s*timeout 2000 ms\s+closed/,
      );
      await expect(listeners.locator('tr[data-listener="user.* Audit.log"]').innerText()).resolves.toContain('sync');
      await expect(page.locator('#driver').innerText()).resolves.toBe('memory');
      await expect(counter(page, 'dispatched').innerText()).resolves.toBe('0');

      // Dispatched after the page loaded: it must pick them up without a reload.
      await bus.dispatch(new OrderPlaced('o1', '4111-1111-SECRET'));
      await bus.dispatch(new OrderPlaced('o2', '4111-2222-SECRET', true));
      await bus.dispatch(new OrderPlaced('o3', '4111-3333-SECRET'));
      await until(async () => (await counter(page, 'dispatched').innerText()) === '3', 5_000, 'the live dispatched counter');
      await until(async () => (await counter(page, 'listenerErrors').innerText()) === '1', 5_000, 'the live error counter');
      const errors = page.getByRole('table', { name: 'Latest errors' });
      await until(async () => (await errors.innerText()).includes('card declined for o2'), 5_000, 'the error row');
      expect(await errors.innerText()).toContain('Billing.charge');
      const events = page.getByRole('table', { name: 'Latest events' });
      await until(async () => (await events.locator('tr[data-event="order.placed"]').count()) === 3, 5_000, 'three event rows');
      expect(await events.innerText()).toMatch(/failed \(1\)/);
      await until(
        async () => /\b3\s+1\b/.test(await listeners.locator('tr[data-listener="order.placed Billing.charge"]').innerText()),
        5_000,
        'calls 3, failures 1',
      );

      // Payloads are hidden by default: the secret is nowhere in the page.
      expect(await page.content()).not.toContain('SECRET');
      expect(problems).toEqual([]);
      expect(requests.length).toBeGreaterThan(3);
      expect(onlyLoopback(requests), requests.join('\n')).toBe(true);
    });
  });
}

describe('event board in a browser: payloads', () => {
  it('with showPayloads a payload is shown as text, never as HTML', async () => {
    const { url, bus } = await boot({ showPayloads: true });
    const { page, problems } = await open(`${url}/_events`);
    await page.locator('#status').filter({ hasText: 'live' }).waitFor();
    await bus.dispatch('user.registered', { name: '<img src=x onerror="window.__pwned=1">', card: 'VISIBLE-PAYLOAD' });
    const events = page.getByRole('table', { name: 'Latest events' });
    await until(async () => (await events.innerText()).includes('VISIBLE-PAYLOAD'), 5_000, 'the payload');
    expect(await events.innerText()).toContain('<img src=x onerror=');
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(problems).toEqual([]);
  });
});

@Injectable()
class Poisoned {
  broken = true;
  readonly handled: number[] = [];
  @OnEvent('poison.arrived')
  handle(event: { n: number }) {
    if (this.broken) throw new Error(`cannot handle n=${event.n}`);
    this.handled.push(event.n);
  }
}

describe('event board in a browser: redis-streams dead letters', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  const streamsApp = (readOnly: boolean, platform: 'express' | 'fastify' = 'express') =>
    boot(
      { readOnly },
      {
        platform,
        metadata: { providers: [Poisoned] },
        bus: {
          driver: 'redis-streams',
          redis: { url: server.url, channelPrefix: freshPrefix('board') },
          streams: { group: 'svc', maxAttempts: 2, blockMs: 200 },
        },
      },
    );

  it('shows the consumer group and a dead letter; Replay delivers it again and removes it, Delete removes one', async () => {
    const { app, url, bus } = await streamsApp(false);
    const dlq = app.get(DeadLetterService);
    await bus.dispatch('poison.arrived', { n: 1 });
    await bus.dispatch('poison.arrived', { n: 2 });
    await until(async () => (await dlq.count('poison.arrived')) === 2, 10_000, 'two dead letters');
    const [first, second] = await dlq.list('poison.arrived');

    const { page, problems, requests } = await open(`${url}/_events`);
    page.on('dialog', (dialog) => void dialog.accept());
    const groups = page.getByRole('table', { name: 'Consumer groups' });
    await until(async () => (await groups.innerText()).includes('svc:Poisoned.handle'), 5_000, 'the consumer group');
    expect(await groups.innerText()).toMatch(/poison\.arrived\s+svc:Poisoned\.handle\s+0\s+0\s+1/);
    const letters = page.getByRole('table', { name: 'Dead letters' });
    await page.locator(`tr[data-dead-letter="${first.id}"]`).waitFor();
    expect(await page.locator(`tr[data-dead-letter="${first.id}"]`).innerText()).toContain('cannot handle n=1');

    // Still broken: the replay fails, says why, and keeps the dead letter.
    await page.getByRole('button', { name: `Replay dead letter ${first.id} of poison.arrived` }).click();
    await page.locator('#action-result.error').filter({ hasText: 'cannot handle n=1' }).waitFor();
    expect(await dlq.count('poison.arrived')).toBe(2);

    app.get(Poisoned).broken = false;
    await page.getByRole('button', { name: `Replay dead letter ${first.id} of poison.arrived` }).click();
    await page
      .locator('#action-result')
      .filter({ hasText: `Replayed ${first.id}` })
      .waitFor();
    expect(app.get(Poisoned).handled).toEqual([1]);
    await until(async () => (await page.locator(`tr[data-dead-letter="${first.id}"]`).count()) === 0, 5_000, 'the replayed row to go');

    await page.getByRole('button', { name: `Delete dead letter ${second.id} of poison.arrived` }).click();
    await until(async () => (await letters.innerText()).includes('No dead letters.'), 5_000, 'the deleted row to go');
    expect(await dlq.count('poison.arrived')).toBe(0);
    expect(app.get(Poisoned).handled).toEqual([1]);
    expect(problems.filter((p) => !/409/.test(p))).toEqual([]);
    expect(onlyLoopback(requests)).toBe(true);
  });

  it('read-only (the default) shows the dead letter without replay or delete controls, and the API refuses them', async () => {
    const { app, url, bus } = await streamsApp(true, 'fastify');
    const dlq = app.get(DeadLetterService);
    await bus.dispatch('poison.arrived', { n: 3 });
    await until(async () => (await dlq.count('poison.arrived')) === 1, 10_000, 'the dead letter');
    const [letter] = await dlq.list('poison.arrived');
    const { page, problems } = await open(`${url}/_events`);
    await page.locator(`tr[data-dead-letter="${letter.id}"]`).waitFor();
    expect(await page.getByRole('button').count()).toBe(0);
    expect(await page.locator('#actions-col').isHidden()).toBe(true);
    expect(await page.locator('#mode').innerText()).toContain('read-only');
    await request(url).post(`/_events/api/dead-letters/replay?event=poison.arrived&id=${letter.id}`).set('X-Event-Board', '1').expect(403);
    await request(url).delete(`/_events/api/dead-letters?event=poison.arrived&id=${letter.id}`).set('X-Event-Board', '1').expect(403);
    expect(await dlq.count('poison.arrived')).toBe(1);
    expect(problems).toEqual([]);
  });
});

@Injectable()
class Warehouse {
  @OnEvent('order.shipped')
  pack(): void {}
  @OnEvent('order.shipped')
  label(event: { id: string }): void {
    throw new Error(`<b>no label</b> for ${event.id}`);
  }
}

describe('event board in a browser: tracking and tracing', () => {
  let server: RedisServer;
  let otel: OtelHarness;
  const remotes: BootedApp[] = [];
  beforeAll(async () => {
    otel = installOtel();
    server = await RedisServer.start();
  });
  afterEach(async () => {
    await Promise.all(remotes.splice(0).map((a) => a.close()));
  });
  afterAll(async () => {
    await otel?.shutdown();
    await server?.destroy();
  });

  it('shows the remote outcomes of a tracked dispatch to another app, and the trace id of a traced one', async () => {
    const redis = { url: server.url, channelPrefix: freshPrefix('bt') };
    const board = await boot({}, { bus: { driver: 'redis', redis, telemetry: { tracing: true } } });
    const remote = await bootApp({ providers: [Warehouse] }, { driver: 'redis', redis });
    remotes.push(remote);
    const { page, problems } = await open(`${board.url}/_events`);
    await page.locator('#counters [data-counter="dispatched"]').waitFor();
    const events = page.getByRole('table', { name: 'Latest events' });

    const result = await tracer.startActiveSpan('http.request', async (span) => {
      try {
        return await board.bus.dispatch('order.shipped', { id: 'o9' }, { trackRemote: true }).done;
      } finally {
        span.end();
      }
    });
    const traceId = spansNamed(otel.spans(), 'http.request')[0]!.spanContext().traceId;
    expect(result.outcomes.filter((o) => o.origin === 'remote')).toHaveLength(2);

    const row = events.locator('tr[data-event="order.shipped"]');
    await until(async () => (await row.locator('li[data-remote]').count()) === 2, 5_000, 'two remote outcomes on the page');
    const ok = row.locator('li[data-remote="Warehouse.pack"]');
    const failed = row.locator('li[data-remote="Warehouse.label"]');
    const remoteBus = remote.app.get(BusRuntime).busId.slice(0, 8);
    expect(await ok.getAttribute('class')).toBe('ok');
    expect(await ok.innerText()).toMatch(new RegExp(`Warehouse\\.pack · bus ${remoteBus} · 1 attempt · [0-9.]+ ms`));
    expect(await failed.getAttribute('class')).toBe('failed');
    // The remote failure's message is text on the page, not markup.
    expect(await failed.innerText()).toContain('<b>no label</b> for o9');
    expect(await failed.locator('b').count()).toBe(0);
    await until(async () => (await row.innerText()).includes('failed (1)'), 5_000, 'the row settled');

    // The trace the dispatch ran in.
    expect(await row.locator('[data-trace]').getAttribute('data-trace')).toBe(traceId);
    expect(await row.innerText()).toContain(`trace ${traceId}`);
    expect(problems).toEqual([]);
  });
});
