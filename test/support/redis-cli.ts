import { connect } from 'node:net';

/**
 * One command to a test server on loopback over a short-lived socket, answered as `redis-cli` prints it when
 * not on a terminal (one line per element, errors as their message): the cluster and Sentinel harnesses poll
 * with it many times a second, and a process per poll would cost the tests' CPU.
 */
export function redisCli(port: number, ...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let buffer = Buffer.alloc(0);
    const done = (error: Error | undefined, text?: string): void => {
      socket.destroy();
      if (error) reject(new Error(`redis command ${args.join(' ')} to ${port}: ${error.message}`));
      else resolve(text!);
    };
    socket.setTimeout(3_000, () => done(new Error('no reply within 3 s')));
    socket.on('error', (error) => done(error));
    socket.on('connect', () => socket.write(encode(args)));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseReply(buffer, 0);
      if (parsed !== undefined)
        done(
          undefined,
          flatten(parsed[0])
            .map((line) => line + '\n')
            .join(''),
        );
    });
  });
}

/** `redisCli` that answers `undefined` instead of failing (a node that is down or not answering yet). */
export async function tryRedisCli(port: number, ...args: string[]): Promise<string | undefined> {
  try {
    return await redisCli(port, ...args);
  } catch {
    return undefined;
  }
}

type Reply = string | number | null | Reply[];

function encode(args: string[]): string {
  return `*${args.length}\r\n` + args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`).join('');
}

/** A RESP2 reply starting at `offset`, with the offset after it; `undefined` while incomplete. */
function parseReply(buffer: Buffer, offset: number): [Reply, number] | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buffer[offset]!);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  if (type === '+' || type === '-') return [line, next];
  if (type === ':') return [Number(line), next];
  if (type === '$') {
    const length = Number(line);
    if (length < 0) return [null, next];
    if (buffer.length < next + length + 2) return undefined;
    return [buffer.toString('utf8', next, next + length), next + length + 2];
  }
  if (type === '*') {
    const count = Number(line);
    if (count < 0) return [null, next];
    const items: Reply[] = [];
    let at = next;
    for (let i = 0; i < count; i++) {
      const item = parseReply(buffer, at);
      if (item === undefined) return undefined;
      items.push(item[0]);
      at = item[1];
    }
    return [items, at];
  }
  throw new Error(`unexpected RESP type ${type}`);
}

function flatten(reply: Reply): string[] {
  if (Array.isArray(reply)) return reply.flatMap(flatten);
  if (reply === null) return [''];
  return String(reply)
    .split(/\r?\n/)
    .filter((line, i, lines) => i < lines.length - 1 || line !== '');
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
