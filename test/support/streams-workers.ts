import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { afterAll, beforeAll } from 'vitest';
import type { BootedApp } from './boot-app';
import { RedisServer } from './redis-server';
import { rawRedis } from './streams-test-app';

/** The compiled fixture app (`npm run build && npm run build:apps`). */
export const STREAMS_WORKER = join(process.cwd(), '.build/test/fixtures/streams-worker.js');

export function assertWorkerBuilt(): void {
  if (!existsSync(STREAMS_WORKER)) throw new Error(`${STREAMS_WORKER} is missing: run npm run build && npm run build:apps`);
}

/** One replica process running test/fixtures/streams-worker.ts. */
export class StreamsWorker {
  readonly lines: string[] = [];
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop()!;
      this.lines.push(...parts);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Spawns a replica and waits for its "ready" (or, with REPLAY=1, for it to finish). */
  static async start(env: Record<string, string>, timeoutMs = 20_000): Promise<StreamsWorker> {
    const child = spawn(process.execPath, [STREAMS_WORKER], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const worker = new StreamsWorker(child);
    const deadline = Date.now() + timeoutMs;
    while (!worker.lines.includes('ready')) {
      if (child.exitCode !== null) {
        if (env.REPLAY === '1' && child.exitCode === 0) return worker;
        throw new Error(`streams-worker exited with ${child.exitCode}: ${worker.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`streams-worker not ready within ${timeoutMs} ms: ${worker.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return worker;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves with the exit code once the process has ended. */
  waitExit(): Promise<number | null> {
    return this.exited;
  }

  async kill(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM: the app closes (finishes and acknowledges what it holds) and exits. */
  async stop(): Promise<void> {
    if (this.running) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

/** The ledger's `seen:<listener>` hash as n → times handled. */
export async function seenCounts(ledger: Redis, prefix: string, listener: string): Promise<Map<number, number>> {
  const hash = await ledger.hgetall(`${prefix}seen:${listener}`);
  return new Map(Object.entries(hash).map(([n, count]) => [Number(n), Number(count)]));
}

/** What a multi-process streams spec works with: the Redis under test, a ledger Redis workers record on, the processes. */
export interface WorkerFleet {
  server: RedisServer;
  /** Never killed: workers record what they handled here, so a fault on `server` cannot lose the record. */
  ledgerServer: RedisServer;
  redis: Redis;
  ledger: Redis;
  readonly workers: StreamsWorker[];
  sender: BootedApp | undefined;
}

/** Starts both redis-servers before the file's tests and stops everything after them. */
export function useWorkerFleet(): WorkerFleet {
  const fleet = { workers: [] as StreamsWorker[], sender: undefined } as unknown as WorkerFleet;
  beforeAll(async () => {
    assertWorkerBuilt();
    [fleet.server, fleet.ledgerServer] = await Promise.all([RedisServer.start(), RedisServer.start()]);
    fleet.redis = rawRedis(fleet.server.url);
    fleet.ledger = rawRedis(fleet.ledgerServer.url);
  });
  afterAll(async () => {
    await fleet.sender?.close();
    await Promise.all(fleet.workers.map((w) => w.kill()));
    fleet.redis?.disconnect();
    fleet.ledger?.disconnect();
    await Promise.all([fleet.server?.destroy(), fleet.ledgerServer?.destroy()]);
  });
  return fleet;
}
