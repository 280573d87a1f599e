import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisServer } from '../support/redis-server';

describe('redis-server test harness', () => {
  let server: RedisServer;
  afterAll(async () => server?.destroy());

  it('starts on a free port, survives kill and restart on the same port, with TLS', async () => {
    server = await RedisServer.start({ tls: true });
    expect(server.port).not.toBe(6379);
    const client = new Redis({ port: server.port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    await client.connect();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    const pid = server.pid;
    await server.kill();
    expect(server.running).toBe(false);
    await server.launch();
    expect(server.pid).not.toBe(pid);
    const tls = new Redis({ port: server.tlsPort, host: '127.0.0.1', tls: { ca: readFileSync(server.tlsFiles!.ca) }, lazyConnect: true });
    await tls.connect();
    expect(await tls.ping()).toBe('PONG');
    tls.disconnect();
  });
});
