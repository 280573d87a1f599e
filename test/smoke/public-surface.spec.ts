import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The built package's surface (public API from the root only, and the style rules): no `any` in its declarations, no deep
 * imports into Nest internals. Reads dist/, which `npm test` builds first.
 */
const root = resolve(__dirname, '../..');
const dist = join(root, 'dist');

function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(suffix))
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Drops comments (block and line) so words in prose are not counted. */
const code = (text: string): string => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');

describe('the built package surface', () => {
  it('dist/ exists (npm test builds it before running)', () => {
    expect(existsSync(join(dist, 'index.d.ts'))).toBe(true);
  });

  it('no declaration file uses `any`', () => {
    const offenders = filesUnder(dist, '.d.ts').flatMap((file) =>
      code(readFileSync(file, 'utf8'))
        .split('\n')
        .filter((line) => /\bany\b/.test(line))
        .map((line) => `${file.slice(root.length + 1)}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it('no deep import into Nest internals (@nestjs/core/... or @nestjs/common/...)', () => {
    const offenders = filesUnder(dist, '.js').filter((file) => /require\("@nestjs\/(core|common)\//.test(readFileSync(file, 'utf8')));
    expect(offenders).toEqual([]);
  });
});
