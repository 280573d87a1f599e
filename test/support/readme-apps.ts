import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
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

/** One folder of apps that share node_modules and one `tsc` run (one per module system and Nest version). */
export interface AppBuild {
  readonly dir: string;
  /** Written as the apps' package.json `type`. */
  readonly esm?: boolean;
  /** Nest 11: resolve through the folder's own symlinks (see linkModules). */
  readonly preserveSymlinks?: boolean;
}

/**
 * Writes each app into `dir/<name>/` (relative imports get `.js` in an ESM app, as README says) and compiles
 * them all in one `tsc` run with README's tsconfig.json — only `rootDir` and `outDir` are widened to hold
 * every app (`dist/<name>/src/main.js`); one program instead of one per app keeps a busy machine's time down.
 */
export async function compileApps(build: AppBuild, apps: Record<string, Map<string, string>>): Promise<void> {
  const tsconfigs = new Set(Object.values(apps).map((files) => files.get('tsconfig.json')));
  if (tsconfigs.size !== 1 || tsconfigs.has(undefined)) throw new Error("the apps must share README's one tsconfig.json");
  writeFileSync(join(build.dir, 'tsconfig.json'), [...tsconfigs][0]!);
  writeFileSync(
    join(build.dir, 'package.json'),
    JSON.stringify({ name: 'readme-apps', private: true, type: build.esm ? 'module' : 'commonjs' }),
  );
  for (const [name, files] of Object.entries(apps)) {
    for (const [path, content] of files) {
      if (path === 'tsconfig.json') continue;
      const text = build.esm && path.endsWith('.ts') ? content.replace(/from '(\.{1,2}\/[^']+)'/g, "from '$1.js'") : content;
      mkdirSync(dirname(join(build.dir, name, path)), { recursive: true });
      writeFileSync(join(build.dir, name, path), text);
    }
  }
  const args = [
    join(root, 'node_modules/typescript/bin/tsc'),
    ...['-p', 'tsconfig.json', '--rootDir', '.', '--outDir', 'dist'],
    ...(build.preserveSymlinks ? ['--preserveSymlinks'] : []),
  ];
  try {
    await promisify(execFile)(process.execPath, args, { cwd: build.dir, encoding: 'utf8', timeout: 240_000 });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`tsc failed in ${build.dir}:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

/** A running `node dist/<name>/src/main.js` of a compiled folder, on a free port. */
export interface RunningApp {
  readonly port: number;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves once `pattern` is in the output (rejects after `timeoutMs`, or if the app exits). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves once the port takes connections (Nest logs "successfully started" before it listens). */
  listening(timeoutMs?: number): Promise<void>;
  post(path: string, body: unknown): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
}

/** Starts app `name` of a compiled folder from its own directory (where its .env is). */
export async function startApp(build: AppBuild, name: string): Promise<RunningApp> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    [...(build.preserveSymlinks ? ['--preserve-symlinks'] : []), join(build.dir, 'dist', name, 'src/main.js')],
    { cwd: join(build.dir, name), env: { ...process.env, PORT: String(port), NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
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
    listening: async (timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await accepts(port))) {
        if (exited !== undefined || Date.now() > deadline) throw new Error(`port ${port} never took a connection:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
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

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
  });
}

/**
 * What README's quick start promises: POST /users answers with the handle and no failure, and the app's
 * log shows the sync listener's line, then the async one's.
 */
export async function registerUserAndReadLog(app: RunningApp, userId: string): Promise<{ status: number; body: unknown }> {
  await app.waitFor(/Nest application successfully started/);
  await app.listening();
  const res = await app.post('/users', { userId, email: `${userId}@example.com` });
  await app.waitFor(new RegExp(`welcome e-mail sent to ${userId}@example\\.com`));
  const log = app.output();
  const audit = log.indexOf(`[WelcomeListener] audit: user ${userId} registered`);
  const welcome = log.indexOf(`[WelcomeListener] welcome e-mail sent to ${userId}@example.com`);
  if (audit < 0 || welcome < audit) throw new Error(`expected the audit line, then the welcome line:\n${log}`);
  return res;
}
