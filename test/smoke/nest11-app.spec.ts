import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, linkModules, nest11Modules, packPackage, root, type PackedPackage } from '../support/packed-package';
import { compileApps, readmeApps, registerUserAndReadLog, startApp, type AppBuild } from '../support/readme-apps';
import { RedisServer } from '../support/redis-server';

/**
 * Nest 11 is a declared peer: the packed package in a new CommonJS Nest 11 app — README's quick start and
 * its @nestjs/config recipe, compiled against Nest 11's types and run on Nest 11. The app's node_modules
 * links Nest 11 (test/smoke/nest11, installed by npm ci) ahead of the repository's other packages, and it
 * runs with --preserve-symlinks so every package, this one and @nestjs/config included, loads Nest 11.
 */
describe('the packed package in a Nest 11 app (CommonJS)', () => {
  const apps = readmeApps();
  let pack: PackedPackage;
  let redis: RedisServer;
  let build: AppBuild;

  beforeAll(async () => {
    if (!existsSync(join(nest11Modules, '@nestjs/core/package.json'))) {
      throw new Error(`Nest 11 is not installed in ${nest11Modules}: run npm ci (or npm install) at the repository root`);
    }
    pack = packPackage();
    redis = await RedisServer.start();
    build = { dir: mkdtempSync(join(tmpdir(), 'neb-nest11-')), preserveSymlinks: true };
    installPacked(pack, build.dir);
    linkModules(build.dir, [nest11Modules, join(root, 'node_modules')]);
    const recipe = new Map(apps.get('config-factory'));
    recipe.set('.env', recipe.get('.env')!.replace('redis://127.0.0.1:6379', redis.url));
    await compileApps(build, { 'quick-start': apps.get('quick-start')!, 'config-factory': recipe });
  }, 240_000);

  afterAll(async () => {
    pack?.remove();
    if (build) rmSync(build.dir, { recursive: true, force: true });
    await redis?.destroy();
  });

  it('resolves Nest 11 everywhere: from the app, from the package and from @nestjs/config', () => {
    const versionFrom = (from: string, pkg: string): string =>
      execFileSync(
        process.execPath,
        ['--preserve-symlinks', '-p', `require(require.resolve('${pkg}/package.json', { paths: [${JSON.stringify(from)}] })).version`],
        { cwd: build.dir, encoding: 'utf8' },
      ).trim();
    const pkg = join(build.dir, 'node_modules/nestjs-event-bus');
    expect(versionFrom(build.dir, '@nestjs/core')).toMatch(/^11\./);
    expect(versionFrom(build.dir, '@nestjs/platform-express')).toMatch(/^11\./);
    expect(versionFrom(pkg, '@nestjs/common')).toMatch(/^11\./);
    expect(versionFrom(pkg, '@nestjs/core')).toMatch(/^11\./);
    expect(versionFrom(join(build.dir, 'node_modules/@nestjs/config'), '@nestjs/common')).toMatch(/^11\./);
    expect(JSON.parse(readFileSync(join(build.dir, 'package.json'), 'utf8')).type).toBe('commonjs');
  });

  it("README's quick start: POST /users runs both listeners, which log their lines", async () => {
    const app = await startApp(build, 'quick-start');
    try {
      const res = await registerUserAndReadLog(app, 'u11');
      expect(res).toEqual({ status: 201, body: { handleId: expect.stringMatching(/^[0-9a-f]{16}$/), failed: [] } });
    } finally {
      await app.stop();
    }
  });

  it("README's @nestjs/config recipe (forRootAsync + useFactory, Redis URL from .env) on the redis driver", async () => {
    const app = await startApp(build, 'config-factory');
    try {
      const res = await registerUserAndReadLog(app, 'u11-redis');
      expect(res).toMatchObject({ status: 201, body: { failed: [] } });
    } finally {
      await app.stop();
    }
  });
});
