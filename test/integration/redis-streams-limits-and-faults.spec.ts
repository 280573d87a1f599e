import { Injectable } from '@nestjs/common';
import { spawn } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OnEvent } from 'nestjs-event-bus';
import { describe, expect, it } from 'vitest';
import { useStreamsServer, freshPrefix, until } from '../support/streams-test-app';

/** A TCP proxy to Redis that, once armed, silently swallows the first non-blocking XREADGROUP (a history read) and all later traffic of that link. */
async function historyFreezingProxy(targetPort: number): Promise<{ port: number; arm(): void; close(): Promise<void> }> {
  const sockets: Socket[] = [];
  let armed = false;
  const proxy = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.push(client, upstream);
    let frozen = false;
    client.on('data', (data) => {
      const text = data.toString('latin1');
      if (armed && text.includes('XREADGROUP') && !text.includes('BLOCK')) {
        armed = false;
        frozen = true;
      }
      if (!frozen) upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!frozen) client.write(data);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    arm: () => (armed = true),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}

/** Stream trimming (maxLen), a re-read that never answers, and a process that exits by itself after app.close(). */
describe('redis-streams limits and faults: trimming, half-open connections, exit after close', () => {
  const env = useStreamsServer();
  const boot = env.boot;

  it('trims each stream to about maxLen entries (MAXLEN ~)', async () => {
    const prefix = freshPrefix('rv');
    const sender = await boot({}, { url: env.server.url, prefix, streams: { maxLen: 10 } });
    const results = await Promise.all(Array.from({ length: 1000 }, (_, i) => sender.bus.dispatch('trimmed.event', i)));
    expect(results.every((r) => r.errors.length === 0)).toBe(true);
    // Approximate trimming removes whole radix-tree nodes (100 entries by default): far fewer than 1000 remain.
    expect(await env.redis.xlen(`${prefix}trimmed.event`)).toBeLessThan(300);
    // The default (100 000) keeps them all.
    const other = freshPrefix('rv');
    const untrimmed = await boot({}, { url: env.server.url, prefix: other });
    await Promise.all(Array.from({ length: 1000 }, (_, i) => untrimmed.bus.dispatch('trimmed.event', i)));
    expect(await env.redis.xlen(`${other}trimmed.event`)).toBe(1000);
  });

  it('a closed app with a retry pending and a reader blocked in a long read lets the process exit by itself', async () => {
    const fixture = join(process.cwd(), '.build/test/fixtures/streams-close-exit.js');
    expect(existsSync(fixture), `${fixture} is missing: run npm run build && npm run build:apps`).toBe(true);
    const child = spawn(process.execPath, [fixture], {
      env: { ...process.env, REDIS_URL: env.server.url, PREFIX: freshPrefix('exit') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await until(() => out.includes('CLOSED') || child.exitCode !== null, 20_000, 'the fixture to close its app');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    const code = await exited;
    clearTimeout(timer);
    expect({ code, signal: child.signalCode, out }).toEqual({ code: 0, signal: null, out: 'CLOSED\n' });
  });

  it('a re-read of its own pending entries that never answers (half-open connection) is noticed; reading resumes', async () => {
    const proxy = await historyFreezingProxy(env.server.port);
    try {
      const prefix = freshPrefix('rv');
      const seen: unknown[] = [];
      @Injectable()
      class Reader {
        @OnEvent('history.frozen')
        run(e: unknown) {
          seen.push(e);
        }
      }
      const app = await boot(
        { providers: [Reader] },
        { url: `redis://127.0.0.1:${proxy.port}`, prefix, streams: { group: 'svc', blockMs: 200 } },
      );
      await app.bus.dispatch('history.frozen', 'before');
      await until(() => seen.length === 1, 5000, 'the first event');
      // The reader reconnects and first re-reads its own pending entries: that read gets no answer.
      proxy.arm();
      const list = String(await env.redis.call('CLIENT', 'LIST'));
      for (const line of list.split('\n').filter((l) => l.includes(`name=nestjs-event-bus:streams-reader:svc:Reader.run`))) {
        await env.redis.call('CLIENT', 'KILL', 'ID', /id=(\d+)/.exec(line)![1]);
      }
      await app.bus.dispatch('history.frozen', 'after');
      await until(() => seen.length === 2, 20_000, 'the event after the frozen re-read');
      expect(seen).toEqual(['before', 'after']);
    } finally {
      await proxy.close();
    }
  }, 30_000);
});
