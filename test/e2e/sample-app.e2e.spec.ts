import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { EventBus } from 'nestjs-event-bus';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppModule } from '../../sample-app/app.module';

describe('sample app over HTTP (memory driver)', () => {
  let app: INestApplication;

  beforeAll(async () => {
    delete process.env.REDIS_URL;
    const moduleRef = await Test.createTestingModule({ imports: [AppModule] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  });

  afterAll(async () => app?.close());

  it('POST /users dispatches UserRegistered and waits: the sync audit listener has run, the async email one too', async () => {
    const res = await request(app.getHttpServer()).post('/users').send({ userId: 'u1' }).expect(201);
    expect(res.body.userId).toBe('u1');
    expect(res.body.handleId).toMatch(/^[0-9a-f]{16}$/);
    expect(res.body.errors).toEqual([]);
    const received = await request(app.getHttpServer()).get('/received').expect(200);
    const forU1 = received.body.events.filter((e: { data: { userId?: string } }) => e.data.userId === 'u1');
    expect(forU1.map((e: { listener: string }) => e.listener)).toEqual([
      'AuditListener.onUserRegistered',
      'WelcomeEmailListener.sendWelcome',
    ]);
  });

  it('GET /health reports the event bus (Terminus)', async () => {
    const res = await request(app.getHttpServer()).get('/health').expect(200);
    expect(res.body.status).toBe('ok');
    expect(res.body.info['event-bus']).toMatchObject({ status: 'up', driver: 'memory', state: 'ready', connected: true });
  });

  it('a failing sync listener shows up in the response and on GET /errors', async () => {
    const res = await request(app.getHttpServer()).post('/users').send({ userId: 'u2', email: 'x@blocked.example' }).expect(201);
    expect(res.body.errors).toEqual(["event 'user.registered' listener 'AuditListener.onUserRegistered': audit refused x@blocked.example"]);
    const errors = await request(app.getHttpServer()).get('/errors').expect(200);
    expect(errors.body.errors).toContainEqual(
      expect.objectContaining({ listener: 'AuditListener.onUserRegistered', handleId: res.body.handleId }),
    );
    expect(errors.body.stats.listenerErrors).toBeGreaterThanOrEqual(1);
  });

  it('POST /orders is fire-and-forget: 202 at once, listeners run after, filter skips free orders', async () => {
    const res = await request(app.getHttpServer()).post('/orders').send({ orderId: 'o1', total: 5 }).expect(202);
    expect(res.body.handleId).toMatch(/^[0-9a-f]{16}$/);
    await request(app.getHttpServer()).post('/orders').send({ orderId: 'free', total: 0 }).expect(202);
    await app.get(EventBus).wait({ timeoutMs: 2000 });
    const received = await request(app.getHttpServer()).get('/received').expect(200);
    const charges = received.body.events.filter((e: { listener: string }) => e.listener === 'BillingListener.charge');
    expect(charges.map((e: { data: { orderId: string } }) => e.data.orderId)).toEqual(['o1']);
    const traces = received.body.events.filter((e: { listener: string }) => e.listener === 'OrderTraceListener.trace');
    expect(traces.map((e: { data: { orderId: string } }) => e.data.orderId)).toEqual(['o1', 'free']);
  });

  it('an async listener failure on a fire-and-forget dispatch is reported, not thrown', async () => {
    await request(app.getHttpServer()).delete('/errors').expect(204);
    await request(app.getHttpServer()).post('/orders').send({ orderId: 'big', total: 20_000 }).expect(202);
    await app.get(EventBus).wait({ timeoutMs: 2000 });
    const errors = await request(app.getHttpServer()).get('/errors').expect(200);
    expect(errors.body.errors).toEqual([
      expect.objectContaining({ listener: 'BillingListener.charge', message: expect.stringContaining('needs manual approval') }),
    ]);
  });

  it('the start-up hint works as printed: `curl -X POST localhost:3000/users` (no body, no content-type) registers a made-up user', async () => {
    const res = await request(app.getHttpServer()).post('/users').expect(201);
    expect(res.body.userId).toMatch(/^u\d+$/);
    expect(res.body.errors).toEqual([]);
    const received = await request(app.getHttpServer()).get('/received').expect(200);
    const forIt = received.body.events.filter((e: { data: { userId?: string } }) => e.data.userId === res.body.userId);
    expect(forIt.map((e: { listener: string }) => e.listener)).toEqual([
      'AuditListener.onUserRegistered',
      'WelcomeEmailListener.sendWelcome',
    ]);
    expect(forIt[1].data.email).toBe(`${res.body.userId}@example.com`);
  });

  it('POST /orders with no body is accepted too (202), as a free order', async () => {
    const res = await request(app.getHttpServer()).post('/orders').expect(202);
    expect(res.body.orderId).toMatch(/^o\d+$/);
    await app.get(EventBus).wait({ timeoutMs: 2000 });
    const received = await request(app.getHttpServer()).get('/received').expect(200);
    const forIt = received.body.events.filter((e: { data: { orderId?: string } }) => e.data.orderId === res.body.orderId);
    expect(forIt.map((e: { listener: string }) => e.listener)).toEqual(['OrderTraceListener.trace']);
  });

  it("mounts the event board at /_events, read-only: its listeners are the app's, writes are refused", async () => {
    await request(app.getHttpServer())
      .get('/_events')
      .expect(200)
      .expect('content-type', /text\/html/);
    const state = await request(app.getHttpServer()).get('/_events/api/state').expect(200);
    expect(state.body.readOnly).toBe(true);
    expect(state.body.listeners.map((l: { name: string }) => l.name)).toContain('AuditListener.onUserRegistered');
    await request(app.getHttpServer())
      .post('/_events/api/dead-letters/replay?event=user.registered&id=1-0')
      .set('X-Event-Board', '1')
      .expect(403);
  });
});
