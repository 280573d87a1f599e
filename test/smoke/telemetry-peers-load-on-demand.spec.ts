import { execFileSync, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * OpenTelemetry and Terminus are optional peers: an app without telemetry loads neither (the
 * health indicator is in the module, but loads @nestjs/terminus only on its first check); asking
 * for telemetry without the peer fails start-up saying what to install. Runs the built package
 * (dist/) in fresh Node processes and reads their `require.cache`.
 */
const root = resolve(__dirname, '../..');
const dist = join(root, 'dist');

function script(body: string, hide = ''): string {
  return `
${hide}
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const pkg = require(${JSON.stringify(join(dist, 'index.js'))});
(async () => {
${body}
  process.stdout.write(JSON.stringify(Object.keys(require.cache)));
})().catch((err) => { process.stderr.write(String(err && err.message)); process.exit(3); });
`;
}

function loaded(body: string): string[] {
  const out = execFileSync(process.execPath, ['-e', script(body)], { cwd: root, encoding: 'utf8', timeout: 20_000 });
  return (JSON.parse(out) as string[]).map((p) => p.split('\\').join('/'));
}

const peers = (paths: string[]): string[] => paths.filter((p) => p.includes('@opentelemetry/') || p.includes('@nestjs/terminus'));

const app = (options: string): string => `
  class AppModule {}
  Module({ imports: [pkg.EventBusModule.forRoot(${options})] })(AppModule);
  const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
  await app.get(pkg.EventBus).dispatch('hello', {}).orThrow();
  globalThis.__app = app;
`;

describe('optional telemetry peers', () => {
  it('a memory app without telemetry (the health indicator included in the module) loads no @opentelemetry or @nestjs/terminus module', () => {
    const paths = loaded(`${app('{}')} await globalThis.__app.close();`);
    expect(paths.some((p) => p.endsWith('dist/health/event-bus-health.indicator.js'))).toBe(true);
    expect(paths.some((p) => p.endsWith('dist/telemetry/bus-instrumentation.js'))).toBe(true);
    expect(peers(paths)).toEqual([]);
  });

  it('the control: tracing loads @opentelemetry/api, a health check loads @nestjs/terminus', () => {
    const paths = loaded(`${app('{ telemetry: { tracing: true } }')}
  const health = await globalThis.__app.get(pkg.EventBusHealthIndicator).isHealthy();
  if (health['event-bus'].status !== 'up') throw new Error('expected up');
  await globalThis.__app.close();`);
    expect(peers(paths).some((p) => p.includes('@opentelemetry/api/'))).toBe(true);
    expect(peers(paths).some((p) => p.includes('@nestjs/terminus/'))).toBe(true);
  });

  it('telemetry without @opentelemetry/api installed fails start-up saying npm install @opentelemetry/api', () => {
    // Hides the peer from this process only, as if it were not installed.
    const hide = `
const NodeModule = require('node:module');
const resolveFilename = NodeModule._resolveFilename;
NodeModule._resolveFilename = function (request, ...rest) {
  if (request === '@opentelemetry/api') { const e = new Error("Cannot find module '@opentelemetry/api'"); e.code = 'MODULE_NOT_FOUND'; throw e; }
  return resolveFilename.call(this, request, ...rest);
};`;
    for (const option of ['{ telemetry: { tracing: true } }', '{ telemetry: { metrics: true } }']) {
      const run = spawnSync(process.execPath, ['-e', script(app(option), hide)], { cwd: root, encoding: 'utf8', timeout: 20_000 });
      expect(run.status).toBe(3);
      expect(run.stderr).toMatch(/telemetry\.(tracing|metrics).*npm install @opentelemetry\/api/);
    }
  });
});
