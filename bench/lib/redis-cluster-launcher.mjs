// A Redis Cluster of the bench's own, for the cluster group: `masters` masters (and optionally replicas),
// each a redis-server on a free loopback port whose cluster bus port (port + 10000) is free too, in its own
// temp dir, no persistence, no pub/sub output-buffer limit. Stopped by pid.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-launcher.mjs';

function canListen(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.on('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function freeClusterPort(taken) {
  const used = new Set(taken.flatMap((port) => [port, port + 10_000]));
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = await freePort();
    if (port === 6379 || port + 10_000 > 65_535 || used.has(port) || used.has(port + 10_000)) continue;
    if (await canListen(port + 10_000)) return port;
  }
  throw new Error('no free port pair (port, port + 10000) for a cluster node');
}

function cli(port, ...args) {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5_000 }, (error, stdout) =>
      resolve(error ? '' : stdout),
    );
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return Promise.race([exited, sleep(3000)]).then(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

export async function startRedisCluster({ masters = 3, replicasPerMaster = 0, nodeTimeoutMs = 5000 } = {}) {
  const version =
    execFileSync('redis-server', ['--version'])
      .toString()
      .match(/v=(\S+)/)?.[1] ?? 'unknown';
  const total = masters * (1 + replicasPerMaster);
  const ports = [];
  for (let i = 0; i < total; i++) ports.push(await freeClusterPort(ports));
  const nodes = ports.map((port) => {
    const dir = mkdtempSync(join(tmpdir(), 'neb-bench-cluster-'));
    // prettier-ignore
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no',
      '--daemonize', 'no', '--loglevel', 'warning', '--client-output-buffer-limit', 'pubsub 0 0 0',
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(nodeTimeoutMs),
      '--repl-diskless-sync-delay', '0'];
    return { port, dir, child: spawn('redis-server', args, { stdio: 'ignore' }) };
  });
  const stop = async () => {
    await Promise.all(nodes.map((node) => stopChild(node.child)));
    for (const node of nodes) rmSync(node.dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 30_000;
    for (const node of nodes) {
      while (!(await cli(node.port, 'PING')).startsWith('PONG')) {
        if (node.child.exitCode !== null || Date.now() > deadline) throw new Error(`cluster node did not start on ${node.port}`);
        await sleep(20);
      }
    }
    const addresses = ports.map((port) => `127.0.0.1:${port}`);
    execFileSync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'], {
      stdio: 'ignore',
      timeout: 30_000,
    });
    for (const node of nodes) {
      while (!(await cli(node.port, 'CLUSTER', 'INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error(`cluster did not become ok on ${node.port}`);
        await sleep(50);
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
  const startupNodes = ports.map((port) => ({ host: '127.0.0.1', port }));
  return {
    version,
    masters,
    startupNodes,
    /** For the case processes: BENCH_CLUSTER_NODES. */
    env: { BENCH_CLUSTER_NODES: JSON.stringify(startupNodes) },
    /** FLUSHALL on every master (a replica follows its master): each sample starts empty. */
    async flushAll() {
      for (const port of ports) {
        const role = await cli(port, 'ROLE');
        if (role.startsWith('master')) await cli(port, 'FLUSHALL');
      }
    },
    stop,
  };
}

/** The startup nodes a case process was given. */
export function clusterNodesFromEnv() {
  const raw = process.env.BENCH_CLUSTER_NODES;
  if (!raw) throw new Error('BENCH_CLUSTER_NODES is not set (the cluster group starts a cluster and passes it)');
  return JSON.parse(raw);
}

/**
 * `count` event names; their hash slots land on the masters like a real app's names would (not balanced by
 * hand). Names, not keys: the stream key / channel is `prefix + '{' + name + '}'`.
 */
export function eventNames(count) {
  return Array.from({ length: count }, (_, i) => `bench.event.${i}`);
}
