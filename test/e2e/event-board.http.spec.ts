import { BusRuntime } from '../../lib/core/bus-runtime';
import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { BusBoardSource } from '../../lib/board/bus-board-source';
import { Audit, Billing, bootBoardApp, OrderPlaced, type BoardApp } from '../support/board-test-app';

const apps: BoardApp[] = [];
async function boot(...args: Parameters<typeof bootBoardApp>): Promise<BoardApp> {
  const app = await bootBoardApp(...args);
  apps.push(app);
  return app;
}

afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

@Injectable()
class TokenGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    return context.switchToHttp().getRequest<{ headers: Record<string, string> }>().headers['x-board-token'] === 'letmein';
  }
}

for (const platform of ['express', 'fastify'] as const) {
  describe(`event board over HTTP (${platform})`, () => {
    it('serves the page with a strict CSP, nosniff and no-store, and reflects nothing from the request', async () => {
      const { url } = await boot({}, { platform });
      const res = await request(url).get('/_events?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/html/);
      expect(res.headers['content-security-policy']).toMatch(/^default-src 'self'/);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.text).not.toMatch(/onerror|<img/i);
      expect(res.text).toContain('src="/_events/assets/board.js"');
      const js = await request(url).get('/_events/assets/board.js').expect(200);
      expect(js.headers['content-type']).toMatch(/^text\/javascript/);
      const api = await request(url).get('/_events/api/state').expect(200);
      expect(api.headers['x-content-type-options']).toBe('nosniff');
      expect(api.body.listeners.map((l: { name: string }) => l.name).sort()).toEqual(['Audit.log', 'Billing.charge', 'Billing.receipt']);
    });

    it('read-only by default: replay and delete are refused with 403', async () => {
      const { url } = await boot({}, { platform });
      const replay = await request(url)
        .post('/_events/api/dead-letters/replay?event=order.placed&id=1-0')
        .set('X-Event-Board', '1')
        .expect(403);
      expect(replay.body.error).toMatch(/read-only/);
      await request(url).delete('/_events/api/dead-letters?event=order.placed&id=1-0').set('X-Event-Board', '1').expect(403);
    });

    it('with readOnly: false a write needs the page header, a stream id and a known event name', async () => {
      const { url } = await boot({ readOnly: false }, { platform });
      const bare = await request(url).post('/_events/api/dead-letters/replay?event=order.placed&id=1-0').expect(403);
      expect(bare.body.error).toMatch(/x-event-board/);
      await request(url).delete('/_events/api/dead-letters?event=order.placed&id=1-0').expect(403);
      // A form post cannot set the header; a wrong value is refused as well.
      await request(url).post('/_events/api/dead-letters/replay?event=order.placed&id=1-0').set('X-Event-Board', 'yes').expect(403);
      for (const id of ['1', 'abc-0', '1-0;DEL', '1-0 1-1', '*']) {
        const res = await request(url)
          .post(`/_events/api/dead-letters/replay?event=order.placed&id=${encodeURIComponent(id)}`)
          .set('X-Event-Board', '1');
        expect(res.status, id).toBe(400);
      }
      for (const event of ['unknown.event', 'user.*', '']) {
        const res = await request(url)
          .delete(`/_events/api/dead-letters?event=${encodeURIComponent(event)}&id=1-0`)
          .set('X-Event-Board', '1');
        expect(res.status, event).toBe(404);
      }
      // A cross-site request is refused even with the header (an app may answer every CORS preflight).
      await request(url)
        .post('/_events/api/dead-letters/replay?event=order.placed&id=1-0')
        .set('X-Event-Board', '1')
        .set('Origin', 'https://evil.example')
        .expect(403);
      await request(url)
        .post('/_events/api/dead-letters/replay?event=order.placed&id=1-0')
        .set('X-Event-Board', '1')
        .set('Sec-Fetch-Site', 'cross-site')
        .expect(403);
      // Valid and known, but the memory driver has no dead letters: refused with the service's explanation.
      const memory = await request(url)
        .post('/_events/api/dead-letters/replay?event=order.placed&id=1-0')
        .set('X-Event-Board', '1')
        .expect(409);
      expect(memory.body.error).toMatch(/needs driver 'redis-streams'/);
    });

    it('a guard function returning false gives 403 on the page and every API route; true serves them', async () => {
      const refused = await boot({ guard: () => false, readOnly: false }, { platform });
      for (const path of [
        '/_events',
        '/_events/assets/board.js',
        '/_events/assets/board.css',
        '/_events/api/state',
        '/_events/api/streams',
      ]) {
        await request(refused.url).get(path).expect(403);
      }
      await request(refused.url).post('/_events/api/dead-letters/replay?event=order.placed&id=1-0').set('X-Event-Board', '1').expect(403);
      await request(refused.url).delete('/_events/api/dead-letters?event=order.placed&id=1-0').set('X-Event-Board', '1').expect(403);
      const allowed = await boot({ guard: async () => true }, { platform });
      await request(allowed.url).get('/_events').expect(200);
      await request(allowed.url).get('/_events/api/state').expect(200);
    });

    it('a CanActivate class guard that is not a provider is created with its dependencies', async () => {
      const { url } = await boot({ guard: TokenGuard }, { platform });
      await request(url).get('/_events/api/state').expect(403);
      await request(url).get('/_events/api/state').set('X-Board-Token', 'letmein').expect(200);
    });

    it('a CanActivate class guard is resolved through DI and decides from the request', async () => {
      const { url } = await boot(
        { guard: TokenGuard, path: '/ops/board' },
        { platform, metadata: { providers: [Billing, Audit, TokenGuard] } },
      );
      await request(url).get('/ops/board').expect(403);
      await request(url).get('/ops/board/api/state').expect(403);
      await request(url).get('/ops/board').set('X-Board-Token', 'letmein').expect(200);
      const state = await request(url).get('/ops/board/api/state').set('X-Board-Token', 'letmein').expect(200);
      expect(state.body.driver).toBe('memory');
      await request(url).get('/_events').expect(404);
    });

    it('payloads are absent by default and shown (truncated) only with showPayloads', async () => {
      const hidden = await boot({}, { platform });
      await request(hidden.url).get('/_events/api/state').expect(200);
      await hidden.bus.dispatch(new OrderPlaced('o1', '4111-SECRET-CARD'));
      const state = await request(hidden.url).get('/_events/api/state').expect(200);
      expect(state.body.events).toHaveLength(1);
      expect(JSON.stringify(state.body)).not.toContain('SECRET');

      const shown = await boot({ showPayloads: true }, { platform });
      await request(shown.url).get('/_events/api/state').expect(200);
      await shown.bus.dispatch(new OrderPlaced('o2', '4111-SHOWN', false));
      await shown.bus.dispatch('user.big', { blob: 'x'.repeat(10_000) });
      const withPayloads = await request(shown.url).get('/_events/api/state').expect(200);
      const [big, order] = withPayloads.body.events;
      expect(order.payload).toContain('4111-SHOWN');
      expect(big.payload.length).toBeLessThan(2_100);
      expect(big.payload).toMatch(/… \(\d+ chars\)$/);
    });
  });
}

describe('event board costs nothing per dispatch while nobody watches', () => {
  it('nothing observes the bus until a page polls, and again once it stops', async () => {
    const { app, bus, url } = await boot();
    const runtime = app.get(BusRuntime);
    const observed = (): boolean => (runtime as unknown as { observer: unknown }).observer !== undefined;
    expect(observed()).toBe(false);
    await bus.dispatch(new OrderPlaced('before', 'x'));
    await request(url).get('/_events').expect(200);
    // Loading the page alone records nothing: only its polls do.
    expect(observed()).toBe(false);
    const first = await request(url).get('/_events/api/state').expect(200);
    expect(first.body.events).toEqual([]);
    expect(observed()).toBe(true);
    await bus.dispatch(new OrderPlaced('during', 'x'));
    const during = await request(url).get('/_events/api/state').expect(200);
    expect(during.body.events.map((e: { outcome: string }) => e.outcome)).toEqual(['ok']);
    expect(during.body.listeners.find((l: { name: string }) => l.name === 'Billing.charge').calls).toBe(1);
    // The last watcher leaving (what the lease does after the page stops polling) detaches the observer.
    app.get(BusBoardSource).onModuleDestroy();
    expect(observed()).toBe(false);
  });
});
