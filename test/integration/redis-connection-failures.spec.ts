import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServer, sleep } from '../support/redis-server';

/**
 * What a user sees when Redis cannot be reached or ioredis is missing, in real processes: the error
 * names the cause and the fix, and a failed start or a close during an outage lets the process exit at
 * once (no reconnect timer, no 2 s socket-destroy timer of ioredis left behind).
 */
const ROOT = resolve(__dirname, '../..');
const START_FAILS = resolve(ROOT, '.build/test/fixtures/redis-start-fails-exit.js');
const CLOSE_WHILE_DOWN = resolve(ROOT, '.build/test/fixtures/redis-close-while-down-exit.js');
/** The process must be gone this soon after its last line (the measured hold was ~2 s). */
const EXIT_WITHIN_MS = 500;

interface Run {
  readonly lines: Array<{ at: number; text: string }>;
  readonly stderr: () => string;
  readonly exited: Promise<{ at: number; code: number | null }>;
  write(text: string): void;
  lineMatching(pattern: RegExp, timeoutMs: number): Promise<{ at: number; text: string }>;
  kill(): void;
}

function run(script: string, env: Record<string, string>): Run {
  const child = spawn(process.execPath, [script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: Array<{ at: number; text: string }> = [];
  let buffer = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const at = Date.now();
    buffer += chunk.toString();
    const parts = buffer.split('\n');
    buffer = parts.pop()!;
    for (const text of parts) lines.push({ at, text });
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ at: number; code: number | null }>((done) => child.once('exit', (code) => done({ at: Date.now(), code })));
  return {
    lines,
    stderr: () => stderr,
    exited,
    write: (text) => {
      child.stdin.write(text);
      child.stdin.end();
    },
    lineMatching: async (pattern, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = lines.find((l) => pattern.test(l.text));
        if (line !== undefined) return line;
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(
            `no line matching ${pattern} (exit ${child.exitCode}); stdout:\n${lines.map((l) => l.text).join('\n')}\nstderr:\n${stderr}`,
          );
        await sleep(10);
      }
    },
    kill: () => child.kill('SIGKILL'),
  };
}

/** Waits for the exit, killing the process if it is still there after `limitMs`. */
async function exitOf(proc: Run, limitMs: number): Promise<{ at: number; code: number | null }> {
  const timer = setTimeout(() => proc.kill(), limitMs);
  const exit = await proc.exited;
  clearTimeout(timer);
  return exit;
}

beforeAll(() => {
  for (const file of [START_FAILS, CLOSE_WHILE_DOWN]) {
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build && npm run build:apps`);
  }
});

describe.each(['redis', 'redis-streams'] as const)('driver %s: a failed start', (driver) => {
  it('against a closed port fails within connectTimeout, naming the address and ECONNREFUSED, logs no reconnect, and exits at once', async () => {
    const port = await freePort();
    const proc = run(START_FAILS, { DRIVER: driver, REDIS_URL: `redis://app:s3cret-pw@127.0.0.1:${port}/0`, CONNECT_TIMEOUT: '3000' });
    const failed = await proc.lineMatching(/^FAILED after/, 15_000);
    const exit = await exitOf(proc, 10_000);
    const elapsed = Number(/FAILED after (\d+) ms/.exec(failed.text)![1]);
    expect(elapsed, failed.text).toBeLessThan(3_000);
    expect(failed.text).toContain(`${driver} driver: cannot connect to Redis at redis://127.0.0.1:${port}/0 as user 'app'`);
    expect(failed.text).toContain(`ECONNREFUSED 127.0.0.1:${port}`);
    expect(failed.text).not.toMatch(/Connection is closed|publishTimeoutMs/);
    expect(exit.at - failed.at, 'exit after the failed start').toBeLessThan(EXIT_WITHIN_MS);
    const output = proc.lines.map((l) => l.text).join('\n');
    expect(output).not.toMatch(/reconnect|lost its connection/);
    // The start-up line names the target, never the password.
    expect(output).toContain(`${driver} driver: connecting to redis://127.0.0.1:${port}/0 as user 'app'`);
    expect(output + proc.stderr()).not.toContain('s3cret-pw');
  });

  it('without ioredis installed fails saying npm install ioredis', async () => {
    const port = await freePort();
    const proc = run(START_FAILS, { DRIVER: driver, REDIS_URL: `redis://127.0.0.1:${port}`, NO_IOREDIS: '1' });
    const failed = await proc.lineMatching(/^FAILED after/, 15_000);
    const exit = await exitOf(proc, 10_000);
    expect(failed.text).toContain(
      `driver '${driver}' needs the 'ioredis' package (>= 5.10), which is not installed: run \`npm install ioredis\``,
    );
    expect(failed.text).not.toMatch(/cannot connect|check redis\.url/);
    expect(exit.at - failed.at).toBeLessThan(EXIT_WITHIN_MS);
  });
});

describe.each(['redis', 'redis-streams'] as const)('driver %s: close() while Redis is down', (driver) => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('closes promptly and the process exits at once', async () => {
    if (!server.running) await server.launch();
    const proc = run(CLOSE_WHILE_DOWN, { DRIVER: driver, REDIS_URL: server.url });
    await proc.lineMatching(/^READY$/, 20_000);
    await server.kill();
    // Let the connections notice and start reconnecting (retryStrategy: 50 ms).
    await sleep(300);
    proc.write('close\n');
    const closed = await proc.lineMatching(/^CLOSED after/, 15_000);
    const exit = await exitOf(proc, 10_000);
    expect(exit.code, proc.stderr()).toBe(0);
    expect(exit.at - closed.at, 'exit after close()').toBeLessThan(EXIT_WITHIN_MS);
  });
});
