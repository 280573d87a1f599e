import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real redis-server process for one test file: its own free loopback port, its own data dir,
 * stopped by pid. Never the machine's Redis on 6379.
 */
export interface RedisServerOptions {
  /** Extra `redis.conf` lines, e.g. `user app on >pw ~goevent:* &goevent:* +@all`. */
  config?: string[];
  /** `appendonly yes` + `appendfsync always` (durability tests). */
  durable?: boolean;
  /** Also listen with TLS on a second port (certificates made with openssl). */
  tls?: boolean;
  /** `requirepass`. */
  password?: string;
  /** A port picked by the caller (e.g. `freeClusterPort()`); default: a free one. */
  port?: number;
  /** Run as a Sentinel (`redis-server <conf> --sentinel`); `config` then holds the `sentinel ...` lines. */
  sentinel?: boolean;
}

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export class RedisServer {
  private process: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly options: RedisServerOptions,
    readonly tlsPort: number | undefined,
    readonly tlsFiles: TlsFiles | undefined,
  ) {}

  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = mkdtempSync(join(tmpdir(), 'neb-redis-'));
    const port = options.port ?? (await freePort());
    let tlsPort: number | undefined;
    let tlsFiles: TlsFiles | undefined;
    if (options.tls) {
      tlsPort = await freePort();
      tlsFiles = makeTlsFiles(dir);
    }
    const server = new RedisServer(port, dir, options, tlsPort, tlsFiles);
    try {
      await server.launch();
    } catch (error) {
      await server.destroy();
      throw error;
    }
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.process?.pid;
  }

  get running(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  /**
   * Starts the server again on the same port and data dir (after `kill()` or `stop()`). The config file is
   * written once: a Sentinel rewrites its own (and tells replicas to rewrite theirs), and a restarted
   * process must come back with what it had written.
   */
  async launch(): Promise<void> {
    const confFile = join(this.dir, 'redis.conf');
    if (!existsSync(confFile)) writeFileSync(confFile, this.configLines().join('\n') + '\n');
    const args = this.options.sentinel ? [confFile, '--sentinel'] : [confFile];
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    this.process = child;
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port, this.options.password))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}; see ${join(this.dir, 'redis.log')}`);
      if (Date.now() > deadline) throw new Error(`redis-server on ${this.port} did not answer PING within 10 s`);
      await sleep(20);
    }
  }

  private configLines(): string[] {
    return [
      `port ${this.port}`,
      'bind 127.0.0.1',
      `dir ${this.dir}`,
      'save ""',
      'daemonize no',
      'loglevel warning',
      `logfile ${join(this.dir, 'redis.log')}`,
      this.options.durable ? 'appendonly yes' : 'appendonly no',
      ...(this.options.durable ? ['appendfsync always'] : []),
      ...(this.options.password ? [`requirepass ${this.options.password}`] : []),
      ...(this.tlsPort !== undefined && this.tlsFiles
        ? [
            `tls-port ${this.tlsPort}`,
            `tls-cert-file ${this.tlsFiles.cert}`,
            `tls-key-file ${this.tlsFiles.key}`,
            `tls-ca-cert-file ${this.tlsFiles.ca}`,
            'tls-auth-clients no',
          ]
        : []),
      ...(this.options.config ?? []),
    ];
  }

  /** SIGKILL: no shutdown, no save (fault tests). */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM and wait for the exit (SIGKILL if it has not exited within 5 s). */
  async stop(): Promise<void> {
    await this.signal('SIGTERM');
  }

  /** Stops the process and removes its data dir. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async signal(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (child === undefined || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    process.kill(child.pid!, signal);
    if (signal !== 'SIGKILL') {
      const timer = setTimeout(() => {
        if (this.running) process.kill(child.pid!, 'SIGKILL');
      }, 5_000);
      await exited;
      clearTimeout(timer);
    }
    await exited;
    // The port is free once nothing answers on it.
    const deadline = Date.now() + 5_000;
    while ((await ping(this.port, this.options.password)) && Date.now() < deadline) await sleep(20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port nothing listens on now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A free port whose cluster bus port (port + 10000) is free too, and is not one of `taken` or their bus
 * ports: a cluster node listens on both.
 */
export async function freeClusterPort(taken: readonly number[] = []): Promise<number> {
  const used = new Set(taken.flatMap((port) => [port, port + 10_000]));
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await freePort();
    if (port === 6379 || port + 10_000 > 65_535 || used.has(port) || used.has(port + 10_000)) continue;
    if (await canListen(port + 10_000)) return port;
  }
  throw new Error('no free port pair (port, port + 10000) found for a cluster node');
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.on('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function ping(port: number, password?: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    let buffer = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write(password ? `AUTH ${password}\r\nPING\r\n` : 'PING\r\n'));
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      if (buffer.includes('+PONG')) done(true);
      else if (buffer.includes('-LOADING')) done(false);
    });
  });
}

/** A CA and a server certificate for 127.0.0.1 / localhost, made with openssl. */
export function makeTlsFiles(dir: string): TlsFiles {
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  const run = (args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=neb-test-ca', '-keyout', caKey, '-out', ca]);
  run(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', csr]);
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  run(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  return { ca, cert, key };
}
