import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, linkModules, packPackage, root, type PackedPackage } from '../support/packed-package';
import { compileApp, readmeApps, registerUserAndReadLog, startApp, type AppBuild } from '../support/readme-apps';
import { rawClient } from '../support/redis-test-app';
import { RedisServer } from '../support/redis-server';

/**
 * README's quick start and its @nestjs/config recipes, copied out of README.md, compiled with tsc against
 * the packed package in a new Nest 12 app and run: the README cannot drift from what works.
 */
describe("README's quick start and config recipes, as pasted, on Nest 12", () => {
  const apps = readmeApps();
  let pack: PackedPackage;
  let work: string;
  let redis: RedisServer;
  const builds: Record<string, AppBuild> = {};

  beforeAll(async () => {
    pack = packPackage();
    work = mkdtempSync(join(tmpdir(), 'neb-readme-'));
    redis = await RedisServer.start();
    const variants: Array<[string, string, boolean]> = [
      ['quick-start-cjs', 'quick-start', false],
      ['quick-start-esm', 'quick-start', true],
      ['config-factory', 'config-factory', false],
      ['config-class', 'config-class', false],
    ];
    await Promise.all(
      variants.map(async ([key, name, esm]) => {
        const build: AppBuild = { dir: join(work, key), esm };
        const files = new Map(apps.get(name));
        // What a user does with the recipe: point .env at their Redis (here the test's own server).
        const env = files.get('.env');
        if (env !== undefined) files.set('.env', env.replace('redis://127.0.0.1:6379', redis.url));
        installPacked(pack, build.dir);
        linkModules(build.dir, [join(root, 'node_modules')]);
        await compileApp(build, files);
        builds[key] = build;
      }),
    );
  }, 180_000);

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
    expect(apps.get('config-class')!.get('src/event-bus-options.ts')).toMatch(/createEventBusOptions\(\)/);
    expect(apps.get('config-factory')!.get('.env')).toMatch(/^REDIS_URL=redis:\/\/127\.0\.0\.1:6379$/m);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain('npm install ../nestjs-event-bus/nestjs-event-bus-0.1.0.tgz');
  });

  for (const key of ['quick-start-cjs', 'quick-start-esm']) {
    it(`${key}: POST /users runs both listeners, which log their lines`, async () => {
      const app = await startApp(builds[key]);
      try {
        const res = await registerUserAndReadLog(app, 'u1');
        expect(res.status).toBe(201);
        expect(res.body).toEqual({ handleId: expect.stringMatching(/^[0-9a-f]{16}$/), failed: [] });
      } finally {
        await app.stop();
      }
    });
  }

  for (const key of ['config-factory', 'config-class']) {
    it(`${key}: the Redis URL comes from .env through ConfigModule.forRoot(), and the app uses that server`, async () => {
      const app = await startApp(builds[key]);
      const admin = rawClient(redis.url);
      try {
        const res = await registerUserAndReadLog(app, `${key}-user`);
        expect(res).toMatchObject({ status: 201, body: { failed: [] } });
        expect(await admin.client('LIST')).toMatch(/name=nestjs-event-bus:publisher/);
      } finally {
        admin.disconnect();
        await app.stop();
      }
    });
  }

  it('an ESM app: the same files with .js in relative imports and "type": "module"', () => {
    const dir = builds['quick-start-esm'].dir;
    expect(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).type).toBe('module');
    expect(readFileSync(join(dir, 'src/main.ts'), 'utf8')).toContain("from './app.module.js'");
    writeFileSync(join(dir, 'touched'), ''); // the work dir is the test's own
  });
});
