import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '..', '..');

interface BenchCase {
  id: string;
  label: string;
}

/**
 * Keeps `npm run bench` from rotting: the quick mode (small N, one round) of the in-process group
 * must run every case and print its table. No timing is asserted here — speed is measured by
 * `npm run bench`, never by `npm test`.
 */
describe('npm run bench (quick mode, in-process group)', () => {
  it('runs every in-process case and prints one table row for each, plus the targets table', async () => {
    expect(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: run npm run build').toBe(true);
    const { inProcessGroup, inProcessPairedGroup } = (await import(join(root, 'bench', 'groups', 'in-process.mjs'))) as {
      inProcessGroup: { cases: BenchCase[] };
      inProcessPairedGroup: { cases: BenchCase[] };
    };
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(root, 'bench', 'run.mjs'), '--group', 'in-process', '--no-results'],
      {
        cwd: root,
        env: { ...process.env, BENCH_QUICK: '1' },
        maxBuffer: 16 * 1024 * 1024,
        timeout: 100_000,
      },
    );
    const rows = stdout.split('\n').filter((line) => line.startsWith('| '));
    expect(inProcessGroup.cases.length).toBeGreaterThanOrEqual(13);
    for (const benchCase of inProcessGroup.cases) {
      const row = rows.find((line) => line.startsWith(`| ${benchCase.label} |`));
      expect(row, `no table row for ${benchCase.id}`).toBeDefined();
      // A measured row: events/s and the bytes column are filled in (a failed case prints no row).
      expect(row).toMatch(/\| [\d.]+ [kM]? ?\|/);
    }
    // The paired group (same family) runs too: each row ends in a measured speed-up.
    for (const benchCase of inProcessPairedGroup.cases) {
      const row = rows.find((line) => line.startsWith(`| ${benchCase.label} |`));
      expect(row, `no table row for ${benchCase.id}`).toMatch(/\| [\d.]+× \([\d.]+×–[\d.]+×\) \|$/);
    }
    expect(stdout).toContain('| this package vs |');
    expect(stdout).not.toContain('Failed samples');
  }, 110_000);
});
