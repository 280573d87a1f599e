import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '../..');
/** Nest 11, installed by `npm ci` through the root's file: devDependency. */
export const nest11Modules = join(root, 'test/smoke/nest11/node_modules');

/** The package as npm would ship it: `npm pack` of the built `dist/` into a temp dir. */
export interface PackedPackage {
  readonly dir: string;
  readonly tarball: string;
  /** Paths inside the tarball, e.g. `LICENSE`, `dist/index.js`. */
  readonly files: string[];
  remove(): void;
}

/** Packs once (call it from `beforeAll`); lifecycle scripts are skipped because `npm test` built `dist/` already. */
export function packPackage(): PackedPackage {
  const dir = mkdtempSync(join(tmpdir(), 'neb-pack-'));
  const [packed] = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }),
  ) as Array<{ filename: string; files: Array<{ path: string }> }>;
  return {
    dir,
    tarball: join(dir, packed.filename),
    files: packed.files.map((f) => f.path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Installs the tarball into `appDir/node_modules/nestjs-event-bus`, as `npm install ./x.tgz` would. */
export function installPacked(pack: PackedPackage, appDir: string): string {
  const pkgDir = join(appDir, 'node_modules', 'nestjs-event-bus');
  mkdirSync(pkgDir, { recursive: true });
  execFileSync('tar', ['-xzf', pack.tarball, '-C', pkgDir, '--strip-components=1']);
  return pkgDir;
}

/**
 * Gives `appDir` the peers: a symlink per package of each `sources` folder, the first one that has a
 * package winning (scoped folders are merged package by package). Nest 11 apps pass the Nest 11 folder
 * first and run with `--preserve-symlinks`, so every package resolves `@nestjs/common` to the same 11.
 */
export function linkModules(appDir: string, sources: string[]): void {
  const target = join(appDir, 'node_modules');
  mkdirSync(target, { recursive: true });
  for (const source of sources) {
    for (const entry of readdirSync(source)) {
      if (entry.startsWith('.') || entry === 'nestjs-event-bus' || entry === 'nest11-smoke-deps') continue;
      if (entry.startsWith('@')) {
        mkdirSync(join(target, entry), { recursive: true });
        for (const scoped of readdirSync(join(source, entry))) {
          const to = join(target, entry, scoped);
          if (!exists(to)) symlinkSync(join(source, entry, scoped), to);
        }
      } else if (!exists(join(target, entry))) {
        symlinkSync(join(source, entry), join(target, entry));
      }
    }
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return existsSync(path);
  }
}
