import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULT_PREFIX } from './harness.mjs';

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Runs `node [flags] bench/<file>` with `env`; resolves with the BENCH_RESULT it printed.
 * Other stdout lines go to `onLine(line, child)` (a receiver saying it is ready).
 */
export function runNode(file, { env = {}, flags = [], timeoutMs = 600_000, onLine, onSpawn } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...flags, join(benchDir, file)], {
      cwd: join(benchDir, '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    onSpawn?.(child);
    let out = '';
    let err = '';
    let result;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length));
        else onLine?.(line, child);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk) => (err += chunk));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (result !== undefined && code === 0) resolve(result);
      else
        reject(
          new Error(
            `bench/${file} ${JSON.stringify(env)} exited ${code ?? signal}${result ? '' : ' without a result'}\n${err.slice(-3000)}`,
          ),
        );
    });
  });
}
