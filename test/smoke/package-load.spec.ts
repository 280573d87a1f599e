import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, linkModules, packPackage, root, type PackedPackage } from '../support/packed-package';

/** A listener app in plain JS (decorators applied as functions), the same for both module systems. */
const appBody = `
class Greeter {
  constructor(bus) { this.bus = bus; this.seen = []; }
  onHello(payload) { this.seen.push(payload.who); }
}
Object.defineProperty(Greeter, 'name', { value: 'Greeter' });
Inject(EventBus)(Greeter, undefined, 0);
Injectable()(Greeter);
OnEvent('hello')(Greeter.prototype, 'onHello', Object.getOwnPropertyDescriptor(Greeter.prototype, 'onHello'));
class AppModule {}
Module({ imports: [EventBusModule.forRoot()], providers: [Greeter] })(AppModule);

const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
const greeter = app.get(Greeter);
const result = await greeter.bus.dispatch('hello', { who: 'world' });
await app.close();
console.log(JSON.stringify({ seen: greeter.seen, errors: result.errors.length, id: result.id }));
`;

describe('the packed package loads in a throwaway CommonJS app and an ESM app', () => {
  let pack: PackedPackage;
  let dir: string;

  beforeAll(() => {
    // What npm would install: the packed tarball (files: dist, package.json) ...
    pack = packPackage();
    dir = pack.dir;
    installPacked(pack, dir);
    // ... next to the app's own copies of the peers.
    linkModules(dir, [join(root, 'node_modules')]);
  });

  afterAll(() => pack?.remove());

  it('ships only dist/ and package metadata', () => {
    const files = readdirSync(join(dir, 'node_modules', 'nestjs-event-bus')).sort();
    expect(files).toEqual(expect.arrayContaining(['dist', 'package.json']));
    expect(files.filter((f) => !['dist', 'package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([]);
  });

  it('CommonJS: require("nestjs-event-bus") and dispatch to a discovered listener', () => {
    writeFileSync(
      join(dir, 'app.cjs'),
      `require('reflect-metadata');
const { Inject, Injectable, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { EventBus, EventBusModule, OnEvent } = require('nestjs-event-bus');
(async () => {${appBody}})().catch((e) => { console.error(e); process.exit(1); });`,
    );
    const out = execFileSync(process.execPath, ['app.cjs'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result).toMatchObject({ seen: ['world'], errors: 0 });
    expect(result.id).toMatch(/^[0-9a-f]{16}$/);
  });

  it('ESM: import { EventBus } from "nestjs-event-bus" and dispatch to a discovered listener', () => {
    writeFileSync(
      join(dir, 'app.mjs'),
      `import 'reflect-metadata';
import { Inject, Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { EventBus, EventBusModule, OnEvent } from 'nestjs-event-bus';
${appBody}`,
    );
    const out = execFileSync(process.execPath, ['app.mjs'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    const result = JSON.parse(out.trim().split('\n').pop()!);
    expect(result).toMatchObject({ seen: ['world'], errors: 0 });
  });
});
