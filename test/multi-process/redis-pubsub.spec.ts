import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer, sleep } from '../support/redis-server';
import { until } from '../support/redis-test-app';

const ROOT = resolve(__dirname, '../..');
const SAMPLE_APP = resolve(ROOT, '.build/sample-app/main.js');
const CLOSE_FIXTURE = resolve(ROOT, '.build/test/fixtures/redis-close-exit.js');

interface Received {
  listener: string;
  name: string;
  data: Record<string, unknown>;
}

/** One `node .build/sample-app/main.js` process on the redis driver. */
class SampleApp {
  private constructor(
    readonly port: number,
    readonly child: ChildProcess,
    readonly output: string[],
  ) {}

  static async start(redisUrl: string): Promise<SampleApp> {
    const port = await freePort();
    const child = spawn(process.execPath, [SAMPLE_APP], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl, QUIET: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    await new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sample app on ${port} printed no READY line within 30 s:\n${output.join('')}`)),
        30_000,
      );
      child.stdout!.on('data', (chunk: Buffer) => {
        const text = chunk.toString();
        output.push(text);
        if (text.includes(`READY ${port}`)) {
          clearTimeout(timer);
          resolveReady();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sample app exited with ${code}:\n${output.join('')}`));
      });
    });
    return new SampleApp(port, child, output);
  }

  async post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  async received(): Promise<Received[]> {
    const response = await fetch(`http://127.0.0.1:${this.port}/received`);
    return ((await response.json()) as { events: Received[] }).events;
  }

  async errors(): Promise<{ stats: Record<string, number>; errors: unknown[] }> {
    const response = await fetch(`http://127.0.0.1:${this.port}/errors`);
    return (await response.json()) as { stats: Record<string, number>; errors: unknown[] };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGTERM');
    await Promise.race([exited, sleep(10_000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** How many times `listener` ran for the event whose `key` is `value`, in one process. */
function count(events: Received[], listener: string, key: string, value: string): number {
  return events.filter((e) => e.listener === listener && e.data?.[key] === value).length;
}

describe('redis pub/sub across processes of the sample app', () => {
  let server: RedisServer;
  const apps: SampleApp[] = [];

  beforeAll(async () => {
    for (const file of [SAMPLE_APP, CLOSE_FIXTURE]) {
      if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build && npm run build:apps first`);
    }
    server = await RedisServer.start();
    apps.push(...(await Promise.all([SampleApp.start(server.url), SampleApp.start(server.url), SampleApp.start(server.url)])));
  }, 90_000);
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop()));
    await server?.destroy();
  });

  it('an event dispatched in one process runs every listener exactly once in every process', async () => {
    const [p1, p2, p3] = apps;
    const user = await p1.post('/users', { userId: 'u1' });
    expect(user.status).toBe(201);
    expect(user.json.errors).toEqual([]);
    const order = await p2.post('/orders', { orderId: 'o1', total: 5 });
    expect(order.status).toBe(202);

    const expected = (events: Received[]) =>
      count(events, 'AuditListener.onUserRegistered', 'userId', 'u1') >= 1 &&
      count(events, 'WelcomeEmailListener.sendWelcome', 'userId', 'u1') >= 1 &&
      count(events, 'BillingListener.charge', 'orderId', 'o1') >= 1 &&
      count(events, 'OrderTraceListener.trace', 'orderId', 'o1') >= 1;
    for (const app of apps) await until(async () => expected(await app.received()), `every listener in :${app.port}`, 15_000);

    // A second round from the third process: by the time it has arrived everywhere, any duplicate
    // of the first round (an echo, a pattern copy) would have arrived too (Redis keeps order).
    await p3.post('/users', { userId: 'u2' });
    for (const app of apps) {
      await until(
        async () => {
          const events = await app.received();
          return (
            count(events, 'AuditListener.onUserRegistered', 'userId', 'u2') === 1 &&
            count(events, 'WelcomeEmailListener.sendWelcome', 'userId', 'u2') === 1
          );
        },
        `u2 in :${app.port}`,
        15_000,
      );
    }
    await sleep(200);
    for (const app of apps) {
      const events = await app.received();
      for (const [listener, key, value] of [
        ['AuditListener.onUserRegistered', 'userId', 'u1'],
        ['WelcomeEmailListener.sendWelcome', 'userId', 'u1'],
        ['BillingListener.charge', 'orderId', 'o1'],
        ['OrderTraceListener.trace', 'orderId', 'o1'],
        ['AuditListener.onUserRegistered', 'userId', 'u2'],
        ['WelcomeEmailListener.sendWelcome', 'userId', 'u2'],
      ]) {
        expect(count(events, listener, key, value), `${listener} for ${value} in :${app.port}`).toBe(1);
      }
      const { errors, stats } = await app.errors();
      expect(errors).toEqual([]);
      expect(stats.rejectedMessages).toBe(0);
    }
  });

  it('a free order is filtered out everywhere, but the wildcard trace still sees it once per process', async () => {
    await apps[0].post('/orders', { orderId: 'free', total: 0 });
    for (const app of apps) {
      await until(
        async () => count(await app.received(), 'OrderTraceListener.trace', 'orderId', 'free') === 1,
        `trace of free in :${app.port}`,
        15_000,
      );
      expect(count(await app.received(), 'BillingListener.charge', 'orderId', 'free')).toBe(0);
    }
  });

  it('a process on the redis driver exits by itself after app.close()', async () => {
    const child = spawn(process.execPath, [CLOSE_FIXTURE], {
      cwd: ROOT,
      env: { ...process.env, REDIS_URL: server.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const exit = await Promise.race([
      new Promise<number | null>((r) => child.once('exit', (code) => r(code))),
      sleep(20_000).then(() => 'still running' as const),
    ]);
    if (exit === 'still running') child.kill('SIGKILL');
    expect(output).toContain('CLOSED');
    expect(exit, output).toBe(0);
  });
});
