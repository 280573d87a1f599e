import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * An app on the memory driver loads no Redis code: neither ioredis nor any file of the redis
 * drivers is required, even with DeadLetterService in the module. Runs the built package (dist/,
 * which `npm test` builds first) in a fresh Node process and reads its `require.cache`.
 */
const root = resolve(__dirname, '../..');
const dist = join(root, 'dist');

/** Runs `body` in a fresh CommonJS process (cwd: the repo, so the peers resolve) and returns the loaded module paths. */
function loadedModules(body: string): string[] {
  const script = `
require('reflect-metadata');
const { Injectable, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const pkg = require(${JSON.stringify(join(dist, 'index.js'))});
(async () => {
${body}
  process.stdout.write(JSON.stringify(Object.keys(require.cache)));
})().catch((err) => { console.error(err); process.exit(1); });
`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  return (JSON.parse(out) as string[]).map((p) => p.split('\\').join('/'));
}

const redisModules = (paths: string[]): string[] => paths.filter((p) => p.includes('ioredis') || p.includes('drivers/redis'));

describe('a memory-driver app loads no Redis module', () => {
  it('dist/ exists (npm test builds it before running)', () => {
    expect(existsSync(join(dist, 'index.js'))).toBe(true);
  });

  it('boots, dispatches to a listener, uses DeadLetterService and closes without requiring ioredis or drivers/redis*', () => {
    const paths = loadedModules(`
  const { EventBus, EventBusModule, OnEvent, DeadLetterService } = pkg;
  class Greeter { constructor() { this.seen = []; } onHello(p) { this.seen.push(p.who); } }
  Injectable()(Greeter);
  OnEvent('hello')(Greeter.prototype, 'onHello', Object.getOwnPropertyDescriptor(Greeter.prototype, 'onHello'));
  class AppModule {}
  Module({ imports: [EventBusModule.forRoot({ driver: 'memory' })], providers: [Greeter] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  const result = await app.get(EventBus).dispatch('hello', { who: 'world' });
  if (result.errors.length > 0 || app.get(Greeter).seen[0] !== 'world') throw new Error('the listener did not run');
  await app.get(DeadLetterService).count('hello').then(() => { throw new Error('expected a rejection'); }, () => undefined);
  await app.close();
`);
    // The check sees the package's own files, so a Redis file would be seen too.
    expect(paths.some((p) => p.endsWith('dist/drivers/memory.driver.js'))).toBe(true);
    expect(paths.some((p) => p.endsWith('dist/dead-letters/dead-letter.service.js'))).toBe(true);
    expect(redisModules(paths)).toEqual([]);
  });

  it('the same check sees a redis driver once one is built (the control: the assertion can fail)', () => {
    const paths = loadedModules(`
  const { createDriver } = require(${JSON.stringify(join(dist, 'drivers/driver.factory.js'))});
  await createDriver({ driver: 'redis', redis: { channelPrefix: 'x:', maxEventSize: 1024, publishTimeoutMs: 100 } });
`);
    expect(redisModules(paths).some((p) => p.includes('dist/drivers/redis-pubsub/'))).toBe(true);
  });
});
