import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './redis-server';
import { root } from './packed-package';

/**
 * The apps README.md spells out. A block belongs to apps through the comment just above it:
 * `<!-- file: src/main.ts (quick-start, config-factory) -->` then a fenced block with the file.
 * Returns app name → file path → content.
 */
export function readmeApps(readme = readFileSync(join(root, 'README.md'), 'utf8')): Map<string, Map<string, string>> {
  const apps = new Map<string, Map<string, string>>();
  const block = /<!-- file: (\S+) \(([^)]+)\) -->\r?\n```[^\n]*\n([\s\S]*?)\n```/g;
  for (const [, path, names, content] of readme.matchAll(block)) {
    for (const name of names.split(',').map((n) => n.trim())) {
      const files = apps.get(name) ?? new Map<string, string>();
      if (files.has(path)) throw new Error(`README.md gives ${path} twice for app '${name}'`);
      files.set(path, `${content}\n`);
      apps.set(name, files);
    }
  }
  return apps;
}

export interface AppBuild {
  readonly dir: string;
  /** Written as the app's package.json `type`. */
  readonly esm?: boolean;
  /** Nest 11: resolve through the app's own symlinks (see linkModules). */
  readonly preserveSymlinks?: boolean;
}

/** Writes the files (relative imports get `.js` in an ESM app, as README says) and compiles them with the repo's `tsc`. */
export async function compileApp(build: AppBuild, files: Map<string, string>): Promise<void> {
  for (const [path, content] of files) {
    const text = build.esm && path.endsWith('.ts') ? content.replace(/from '(\.{1,2}\/[^']+)'/g, "from '$1.js'") : content;
    mkdirSync(dirname(join(build.dir, path)), { recursive: true });
    writeFileSync(join(build.dir, path), text);
  }
  writeFileSync(join(build.dir, 'package.json'), JSON.stringify({ name: 'readme-app', private: true, type: build.esm ? 'module' : 'commonjs' }));
  const args = [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', ...(build.preserveSymlinks ? ['--preserveSymlinks'] : [])];
  try {
    await promisify(execFile)(process.execPath, args, { cwd: build.dir, encoding: 'utf8', timeout: 120_000 });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`tsc failed in ${build.dir}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/** A running `node dist/main.js` of a built app, on a free port. */
export interface RunningApp {
  readonly port: number;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves once `pattern` is in the output (rejects after `timeoutMs`, or if the app exits). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  post(path: string, body: unknown): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

export async function startApp(build: AppBuild): Promise<RunningApp> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [...(build.preserveSymlinks ? ['--preserve-symlinks'] : []), 'dist/main.js'],
    { cwd: build.dir, env: { ...process.env, PORT: String(port), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  let exited: number | null | undefined;
  const listeners = new Set<() => void>();
  const changed = (): void => listeners.forEach((listener) => listener());
  child.stdout!.on('data', (chunk: Buffer) => ((output += chunk.toString()), changed()));
  child.stderr!.on('data', (chunk: Buffer) => ((output += chunk.toString()), changed()));
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      changed();
      resolve();
    }),
  );
  const app: RunningApp = {
    port,
    output: () => output,
    waitFor: (pattern, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(output)) done(resolve);
          else if (exited !== undefined) done(() => reject(new Error(`app exited (${exited}) before ${pattern}:\n${output}`)));
        };
        const timer = setTimeout(() => done(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\n${output}`))), timeoutMs);
        const done = (settle: () => void): void => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      }),
    post: async (path, body) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    stop: async () => {
      if (exited === undefined && child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      await exit;
    },
  };
  return app;
}

/**
 * What README's quick start promises: POST /users answers with the handle and no failure, and the app's
 * log shows the sync listener's line, then the async one's.
 */
export async function registerUserAndReadLog(app: RunningApp, userId: string): Promise<{ status: number; body: unknown }> {
  await app.waitFor(/Nest application successfully started/);
  const res = await app.post('/users', { userId, email: `${userId}@example.com` });
  await app.waitFor(new RegExp(`welcome e-mail sent to ${userId}@example\\.com`));
  const log = app.output();
  const audit = log.indexOf(`[WelcomeListener] audit: user ${userId} registered`);
  const welcome = log.indexOf(`[WelcomeListener] welcome e-mail sent to ${userId}@example.com`);
  if (audit < 0 || welcome < audit) throw new Error(`expected the audit line, then the welcome line:\n${log}`);
  return res;
}
