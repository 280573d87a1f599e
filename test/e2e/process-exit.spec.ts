import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const FIXTURE = resolve(ROOT, '.build/test/fixtures/exit-after-close.js');

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a node script and kills it if it has not exited by itself within `limitMs`. */
function runNode(script: string, limitMs: number): Promise<Outcome> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, timedOut });
    });
  });
}

describe('no open handle after app.close()', () => {
  it('a process that booted an app, dispatched and closed it exits by itself, after close() completed', async () => {
    expect(existsSync(FIXTURE), `${FIXTURE} is missing: run npm run build && npm run build:apps`).toBe(true);
    const outcome = await runNode(FIXTURE, 8_000);
    expect(outcome.timedOut, `still running after 8 s; stdout: ${outcome.stdout} stderr: ${outcome.stderr}`).toBe(false);
    expect(outcome.stderr).toBe('');
    expect(outcome.code).toBe(0);
    // close() must complete (not the process quitting half-way through the drain).
    expect(outcome.stdout).toMatch(/^closed after \d+ listener calls$/m);
    const calls = Number(/closed after (\d+)/.exec(outcome.stdout)![1]);
    expect(calls).toBeGreaterThanOrEqual(100);
  });
});
