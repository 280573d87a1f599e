import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, linkModules, packPackage, root, type PackedPackage } from '../support/packed-package';
import { compileApps, readmeApps, registerUserAndReadLog, startApp, type AppBuild } from '../support/readme-apps';
import { rawClient } from '../support/redis-test-app';
import { RedisServer } from '../support/redis-server';

/**
 * README's quick start and its @nestjs/config recipes, copied out of README.md, compiled with tsc against
 * the packed package in a new Nest 12 app (CommonJS, and the quick start as ESM too) and run: the README
 * cannot drift from what works.
 */
describe("README's quick start and config recipes, as pasted, on Nest 12", () => {
  const apps = readmeApps();
  let pack: PackedPackage;
  let work: string;
  let redis: RedisServer;
  let cjs: AppBuild;
  let esm: AppBuild;

  /** A user's edit: point .env at their Redis (here the test's own server, never 6379). */
  const withEnvAt = (name: string, url: string): Map<string, string> => {
    const files = new Map(apps.get(name));
    files.set('.env', files.get('.env')!.replace('redis://127.0.0.1:6379', url));
    return files;
  };

  beforeAll(async () => {
    pack = packPackage();
    work = mkdtempSync(join(tmpdir(), 'neb-readme-'));
    redis = await RedisServer.start();
    cjs = { dir: join(work, 'cjs') };
    esm = { dir: join(work, 'esm'), esm: true };
    for (const build of [cjs, esm]) {
      mkdirSync(build.dir);
      installPacked(pack, build.dir);
      linkModules(build.dir, [join(root, 'node_modules')]);
    }
    await Promise.all([
      compileApps(cjs, {
        'quick-start': apps.get('quick-start')!,
        'config-factory': withEnvAt('config-factory', redis.url),
        'config-class': withEnvAt('config-class', redis.url),
      }),
      compileApps(esm, { 'quick-start': apps.get('quick-start')! }),
    ]);
  }, 240_000);

  afterAll(async () => {
    pack?.remove();
    if (work) rmSync(work, { recursive: true, force: true });
    await redis?.destroy();
  });

  it('README spells out five files and a tsconfig with the decorator flags, and the recipes a .env', () => {
    expect([...apps.get('quick-start')!.keys()].sort()).toEqual([
      'src/app.module.ts',
      'src/main.ts',
      'src/user-registered.event.ts',
      'src/users.controller.ts',
      'src/welcome.listener.ts',
      'tsconfig.json',
    ]);
    expect(apps.get('quick-start')!.get('tsconfig.json')).toMatch(/"experimentalDecorators": true[\s\S]*"emitDecoratorMetadata": true/);
    expect(apps.get('config-factory')!.get('src/app.module.ts')).toMatch(/ConfigModule\.forRoot\(\)/);
    expect(apps.get('config-class')!.get('src/event-bus-options.ts')).toMatch(
      /implements EventBusOptionsFactory[\s\S]*createEventBusOptions\(\)/,
    );
    expect(apps.get('config-factory')!.get('.env')).toMatch(/^REDIS_URL=redis:\/\/127\.0\.0\.1:6379$/m);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(`npm install ../nestjs-event-bus/${pack.tarball.split('/').pop()}`);
  });

  it('CommonJS: POST /users runs both listeners, which log their lines', async () => {
    const app = await startApp(cjs, 'quick-start');
    try {
      const res = await registerUserAndReadLog(app, 'u1');
      expect(res).toEqual({ status: 201, body: { handleId: expect.stringMatching(/^[0-9a-f]{16}$/), failed: [] } });
    } finally {
      await app.stop();
    }
  });

  it('ESM ("type": "module", .js in relative imports): the same', async () => {
    expect(readFileSync(join(esm.dir, 'quick-start/src/main.ts'), 'utf8')).toContain("from './app.module.js'");
    const app = await startApp(esm, 'quick-start');
    try {
      const res = await registerUserAndReadLog(app, 'u2');
      expect(res).toEqual({ status: 201, body: { handleId: expect.stringMatching(/^[0-9a-f]{16}$/), failed: [] } });
    } finally {
      await app.stop();
    }
  });

  for (const name of ['config-factory', 'config-class']) {
    it(`${name}: the Redis URL comes from .env through ConfigModule.forRoot(), and the app uses that server`, async () => {
      const app = await startApp(cjs, name);
      const admin = rawClient(redis.url);
      try {
        const res = await registerUserAndReadLog(app, `${name}-user`);
        expect(res).toMatchObject({ status: 201, body: { failed: [] } });
        expect(await admin.client('LIST')).toMatch(/name=nestjs-event-bus:publisher/);
      } finally {
        admin.disconnect();
        await app.stop();
      }
    });
  }
});
