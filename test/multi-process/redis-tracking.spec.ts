import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer, sleep } from '../support/redis-server';

const ROOT = resolve(__dirname, '../..');
const SAMPLE_APP = resolve(ROOT, '.build/sample-app/main.js');

interface Outcome {
  listener: string;
  origin: 'local' | 'remote';
  ok: boolean;
  attempts: number;
  durationMs: number;
  error?: string;
}

/** One `node .build/sample-app/main.js` process on the redis driver. */
async function startSampleApp(redisUrl: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [SAMPLE_APP], {
    cwd: ROOT,
    env: { ...process.env, PORT: String(port), REDIS_URL: redisUrl, QUIET: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => reject(new Error(`sample app on ${port} printed no READY line:\n${output.join('')}`)), 30_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output.push(chunk.toString());
      if (chunk.toString().includes(`READY ${port}`)) {
        clearTimeout(timer);
        ready();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sample app exited with ${code}:\n${output.join('')}`));
    });
  });
  return { port, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await Promise.race([exited, sleep(10_000)]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

async function placeTracked(port: number, body: unknown): Promise<{ outcomes: Outcome[]; errors: string[] }> {
  const response = await fetch(`http://127.0.0.1:${port}/orders/tracked`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { outcomes: Outcome[]; errors: string[] };
}

const summary = (outcomes: Outcome[]): string[] => outcomes.map((o) => `${o.origin}:${o.listener}:${o.ok}`).sort();

describe('tracking a dispatch across three sample-app processes (redis pub/sub)', () => {
  let server: RedisServer;
  const apps: Array<{ port: number; child: ChildProcess }> = [];

  beforeAll(async () => {
    if (!existsSync(SAMPLE_APP)) throw new Error(`${SAMPLE_APP} is missing: run npm run build && npm run build:apps first`);
    server = await RedisServer.start();
    apps.push(...(await Promise.all([startSampleApp(server.url), startSampleApp(server.url), startSampleApp(server.url)])));
    await sleep(300);
  }, 90_000);
  afterAll(async () => {
    await Promise.all(apps.map((a) => stop(a.child)));
    await server?.destroy();
  });

  it('the tracked endpoint answers with the outcome of every listener in every process', async () => {
    const { outcomes, errors } = await placeTracked(apps[0].port, { orderId: 'tracked-1', total: 20 });
    expect(errors).toEqual([]);
    expect(summary(outcomes)).toEqual([
      'local:BillingListener.charge:true',
      'local:OrderTraceListener.trace:true',
      'remote:BillingListener.charge:true',
      'remote:BillingListener.charge:true',
      'remote:OrderTraceListener.trace:true',
      'remote:OrderTraceListener.trace:true',
    ]);
  });

  it('remote failures come back with their message, and a stopped replica is no longer counted (Redis counts live subscriptions)', async () => {
    const failed = await placeTracked(apps[1].port, { orderId: 'big', total: 20_000 });
    expect(summary(failed.outcomes).filter((s) => s.includes('Billing'))).toEqual([
      'local:BillingListener.charge:false',
      'remote:BillingListener.charge:false',
      'remote:BillingListener.charge:false',
    ]);
    const remote = failed.outcomes.filter((o) => o.origin === 'remote' && !o.ok);
    for (const o of remote) expect(o.error).toBe('RemoteListenerError: order big: total 20000 needs manual approval');
    expect(failed.errors).toHaveLength(3);

    await stop(apps[2].child);
    await sleep(200);
    const after = await placeTracked(apps[0].port, { orderId: 'tracked-2', total: 5 });
    expect(summary(after.outcomes)).toHaveLength(4);
    expect(after.errors).toEqual([]);
  });
});
