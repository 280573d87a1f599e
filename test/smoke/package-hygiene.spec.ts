import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installPacked, packPackage, root, type PackedPackage } from '../support/packed-package';

/** What the tarball carries besides the code: the licence package.json names, and source maps that work without lib/. */
describe('package hygiene of the packed tarball', () => {
  let pack: PackedPackage;
  let pkgDir: string;

  beforeAll(() => {
    pack = packPackage();
    pkgDir = installPacked(pack, pack.dir);
  });

  afterAll(() => pack?.remove());

  it('ships LICENSE, the MIT text package.json declares', () => {
    expect(pack.files).toContain('LICENSE');
    expect(JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).license).toBe('MIT');
    const license = readFileSync(join(pkgDir, 'LICENSE'), 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} nestjs-event-bus contributors\n/);
    expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS"');
  });

  it('ships no TypeScript sources: lib/ stays in the repository', () => {
    expect(pack.files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f))).toEqual([]);
    expect(pack.files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('every source map it ships resolves: each .js names a shipped map, and each map carries the sources it names', () => {
    // The event board's page script is shipped as written (no build step, no map).
    const scripts = pack.files.filter((f) => f.endsWith('.js') && !f.startsWith('dist/board/assets/'));
    const maps = pack.files.filter((f) => f.endsWith('.js.map'));
    expect(scripts.length).toBeGreaterThan(10);
    for (const script of scripts) {
      const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(pkgDir, script), 'utf8'))?.[1];
      if (url === undefined) continue;
      expect(pack.files, `${script} points to ${url}`).toContain(join(dirname(script), url));
    }
    expect(maps.length).toBe(scripts.length);
    for (const path of maps) {
      const map = JSON.parse(readFileSync(join(pkgDir, path), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      expect(map.sources.length, path).toBeGreaterThan(0);
      expect(map.sourcesContent?.length, `${path} embeds its sources`).toBe(map.sources.length);
      map.sources.forEach((source, i) => {
        // The embedded text is the very file the map names, as it is in the repository.
        const original = readFileSync(join(root, dirname(path), source), 'utf8');
        expect(map.sourcesContent![i], `${path}: ${source}`).toBe(original);
      });
    }
  });
});
