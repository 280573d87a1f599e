import { execFile } from 'node:child_process';

/**
 * One command through `redis-cli` to a test server on loopback (raw output, no ioredis): the cluster and
 * Sentinel harnesses use it to read state without keeping connections open across kills.
 */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 3_000 }, (error, stdout) => {
      if (error) reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${error.message}`));
      else resolve(stdout);
    });
  });
}

/** `redisCli` that answers `undefined` instead of failing (a node that is down or not answering yet). */
export async function tryRedisCli(port: number, ...args: string[]): Promise<string | undefined> {
  try {
    const out = await redisCli(port, ...args);
    // redis-cli exits 0 on a connection refusal, printing the reason.
    return out.startsWith('Could not connect') ? undefined : out;
  } catch {
    return undefined;
  }
}

/** `field:value` lines of INFO / CLUSTER INFO as a map. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  return fields;
}

/** Polls `check` until it returns a value (not `undefined`), or fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
