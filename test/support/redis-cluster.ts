import { execFile } from 'node:child_process';
import { parseInfo, redisCli, tryRedisCli, waitFor } from './redis-cli';
import { RedisServer, freeClusterPort } from './redis-server';

/**
 * A real local Redis Cluster for one test file: `masters` masters, each with `replicasPerMaster`
 * replicas, every node a `redis-server --cluster-enabled yes` on its own free loopback port (its bus port,
 * port + 10000, free too) and temp dir, stopped by pid. Start it once per spec file (a few seconds).
 */
export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
  /** `cluster-node-timeout`: how long a silent master takes to be failed over (small keeps tests fast). */
  nodeTimeoutMs?: number;
  /** Extra `redis.conf` lines for every node. */
  config?: string[];
}

export interface ClusterNode {
  id: string;
  port: number;
  role: 'master' | 'replica';
  /** The master's node id, for a replica. */
  masterId: string | undefined;
  /** Slot ranges `[from, to]` (inclusive) a master serves. */
  slots: Array<[number, number]>;
  /** Flagged `fail` or `fail?` by the node that was asked. */
  failing: boolean;
}

export interface ClusterAddress {
  host: string;
  port: number;
}

const SLOTS = 16_384;

export class RedisCluster {
  private constructor(
    readonly servers: RedisServer[],
    private readonly options: Required<Omit<RedisClusterOptions, 'config'>>,
  ) {}

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const resolved = {
      masters: options.masters ?? 3,
      replicasPerMaster: options.replicasPerMaster ?? 1,
      nodeTimeoutMs: options.nodeTimeoutMs ?? 2_000,
    };
    const total = resolved.masters * (1 + resolved.replicasPerMaster);
    const config = [
      'cluster-enabled yes',
      'cluster-config-file nodes.conf',
      `cluster-node-timeout ${resolved.nodeTimeoutMs}`,
      // A replica takes over however long ago it last heard its master (tests kill masters at will).
      'cluster-replica-validity-factor 0',
      // A replica's first sync starts at once (the default waits 5 s for more replicas to share it).
      'repl-diskless-sync-delay 0',
      // No output-buffer limit for pub/sub subscribers: a slow test receiver must not be disconnected.
      'client-output-buffer-limit pubsub 0 0 0',
      ...(options.config ?? []),
    ];
    const servers: RedisServer[] = [];
    try {
      // Started in parallel; a port taken between the check and the start (another helper's process) is
      // retried on a new one.
      const ports: number[] = [];
      for (let i = 0; i < total; i++) ports.push(await freeClusterPort(ports));
      const started = await Promise.all(ports.map((port) => startNode(port, config, ports)));
      servers.push(...started);
      const cluster = new RedisCluster(servers, resolved);
      await createCluster(
        servers.map((server) => server.port),
        resolved.replicasPerMaster,
      );
      await cluster.waitHealthy(30_000);
      return cluster;
    } catch (error) {
      await Promise.all(servers.map((server) => server.destroy()));
      throw error;
    }
  }

  /** Seed nodes for `new Cluster(startupNodes)`: every node (ioredis needs only one that answers). */
  get startupNodes(): ClusterAddress[] {
    return this.servers.map((server) => ({ host: '127.0.0.1', port: server.port }));
  }

  server(port: number): RedisServer {
    const server = this.servers.find((candidate) => candidate.port === port);
    if (!server) throw new Error(`no cluster node on port ${port}`);
    return server;
  }

  /** The cluster as one running node sees it (`CLUSTER NODES`). */
  async nodes(): Promise<ClusterNode[]> {
    for (const server of this.servers.filter((candidate) => candidate.running)) {
      const text = await tryRedisCli(server.port, 'CLUSTER', 'NODES');
      if (text !== undefined) return parseClusterNodes(text);
    }
    throw new Error('no cluster node answers');
  }

  /** Masters serving slots, healthy ones only. */
  async masters(): Promise<ClusterNode[]> {
    return (await this.nodes()).filter((node) => node.role === 'master' && !node.failing && node.slots.length > 0);
  }

  async replicas(): Promise<ClusterNode[]> {
    return (await this.nodes()).filter((node) => node.role === 'replica' && !node.failing);
  }

  /** The hash slot of a key (asks Redis: `CLUSTER KEYSLOT`, hash tags included). */
  async slotOf(key: string): Promise<number> {
    const running = this.servers.find((server) => server.running);
    if (!running) throw new Error('no cluster node is running');
    return Number((await redisCli(running.port, 'CLUSTER', 'KEYSLOT', key)).trim());
  }

  async masterOfSlot(slot: number): Promise<ClusterNode> {
    const master = (await this.masters()).find((node) => node.slots.some(([from, to]) => slot >= from && slot <= to));
    if (!master) throw new Error(`no healthy master serves slot ${slot}`);
    return master;
  }

  async masterOfKey(key: string): Promise<ClusterNode> {
    return this.masterOfSlot(await this.slotOf(key));
  }

  /**
   * SIGKILLs the master on `port` and waits until one of its replicas serves its slots and every running
   * node says `cluster_state:ok` again. Returns the promoted replica (as a master).
   */
  async killMaster(port: number, timeoutMs = 30_000): Promise<ClusterNode> {
    const before = await this.nodes();
    const victim = before.find((node) => node.port === port);
    if (!victim || victim.role !== 'master' || victim.slots.length === 0) throw new Error(`port ${port} is not a master serving slots`);
    const replicaIds = new Set(before.filter((node) => node.masterId === victim.id).map((node) => node.id));
    if (replicaIds.size === 0) throw new Error(`master ${port} has no replica to promote`);
    await this.server(port).kill();
    await this.waitHealthy(timeoutMs);
    const after = await this.nodes();
    const promoted = after.find((node) => replicaIds.has(node.id) && node.role === 'master' && sameSlots(node.slots, victim.slots));
    if (!promoted) throw new Error(`no replica of ${port} took over its slots`);
    return promoted;
  }

  /**
   * Starts a killed or stopped node again (same port, same `nodes.conf`) and waits until it has rejoined:
   * an old master comes back as a replica of the node that replaced it.
   */
  async restart(port: number, timeoutMs = 30_000): Promise<ClusterNode> {
    const server = this.server(port);
    if (server.running) throw new Error(`node ${port} is running`);
    await server.launch();
    await this.waitHealthy(timeoutMs);
    const node = (await this.nodes()).find((candidate) => candidate.port === port);
    if (!node) throw new Error(`node ${port} did not rejoin`);
    return node;
  }

  /**
   * Moves one slot, with its keys, to the master on `toPort` (what `redis-cli --cluster reshard` does):
   * IMPORTING on the target, MIGRATING on the source, MIGRATE of every key, then SETSLOT NODE on every
   * master. Clients with the old slot map get MOVED afterwards; `whileMigrating` runs while the slot is
   * half-moved (a key that is not on the source yet gets ASK).
   */
  async moveSlot(slot: number, toPort: number, whileMigrating?: () => Promise<void>): Promise<void> {
    const from = await this.masterOfSlot(slot);
    const to = (await this.masters()).find((node) => node.port === toPort);
    if (!to) throw new Error(`port ${toPort} is not a serving master`);
    if (to.id === from.id) return;
    await redisCli(to.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
    await redisCli(from.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id);
    if (whileMigrating) await whileMigrating();
    for (;;) {
      const keys = (await redisCli(from.port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')).split('\n').filter((key) => key !== '');
      if (keys.length === 0) break;
      const reply = await redisCli(from.port, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
      if (!reply.startsWith('OK')) throw new Error(`MIGRATE of slot ${slot} failed: ${reply}`);
    }
    for (const master of await this.masters()) await redisCli(master.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
    await waitFor(
      `every node to agree that ${toPort} serves slot ${slot}`,
      async () => {
        for (const server of this.servers.filter((candidate) => candidate.running)) {
          const view = parseClusterNodes((await tryRedisCli(server.port, 'CLUSTER', 'NODES')) ?? '');
          const owner = view.find((node) => node.role === 'master' && node.slots.some(([a, b]) => slot >= a && slot <= b));
          if (owner?.port !== toPort) return undefined;
        }
        return true;
      },
      10_000,
    );
  }

  /**
   * Waits until every running node says `cluster_state:ok`, every running node is known and not failing
   * in each running node's view, the masters cover all 16384 slots, every node that is down is flagged
   * `fail` and serves no slot, and every running replica's link to its master is up.
   */
  async waitHealthy(timeoutMs = 30_000): Promise<void> {
    await waitFor('a healthy cluster', async () => ((await this.healthProblem()) === undefined ? true : undefined), timeoutMs, 100).catch(
      async (error: Error) => {
        throw new Error(`${error.message}: ${await this.healthProblem()}`);
      },
    );
  }

  private async healthProblem(): Promise<string | undefined> {
    const running = this.servers.filter((server) => server.running);
    const down = this.servers.filter((server) => !server.running).map((server) => server.port);
    // Every node is asked at once: a failover is seen as soon as it has happened, not one node per round.
    const problems = await Promise.all(running.map((server) => this.nodeProblem(server, running, down)));
    return problems.find((problem) => problem !== undefined);
  }

  private async nodeProblem(server: RedisServer, running: RedisServer[], down: number[]): Promise<string | undefined> {
    const [info, text, replicationText] = await Promise.all([
      tryRedisCli(server.port, 'CLUSTER', 'INFO'),
      tryRedisCli(server.port, 'CLUSTER', 'NODES'),
      tryRedisCli(server.port, 'INFO', 'replication'),
    ]);
    if (info === undefined || text === undefined) return `${server.port} does not answer`;
    const state = parseInfo(info).get('cluster_state');
    if (state !== 'ok') return `${server.port} says cluster_state:${state}`;
    const view = parseClusterNodes(text);
    for (const port of running.map((other) => other.port)) {
      const node = view.find((candidate) => candidate.port === port);
      if (!node || node.failing) return `${server.port} does not see ${port} as healthy`;
    }
    for (const port of down) {
      const node = view.find((candidate) => candidate.port === port);
      if (node && (!node.failing || node.slots.length > 0)) return `${server.port} still counts on ${port}, which is down`;
    }
    const masters = view.filter((node) => node.role === 'master' && node.slots.length > 0 && !node.failing);
    if (masters.length !== this.options.masters) return `${server.port} sees ${masters.length} masters`;
    // Right after `--cluster create`, a replica is a master with no slots until the others hear otherwise.
    const unassigned = view.filter((node) => node.role === 'master' && node.slots.length === 0 && !node.failing);
    if (unassigned.length > 0) return `${server.port} still sees ${unassigned.length} node(s) with no role yet`;
    const covered = masters.reduce((sum, node) => sum + node.slots.reduce((n, [from, to]) => n + to - from + 1, 0), 0);
    if (covered !== SLOTS) return `${server.port} sees ${covered} slots served`;
    const me = view.find((node) => node.port === server.port);
    if (me?.role === 'replica') {
      if (!masters.some((node) => node.id === me.masterId)) return `${server.port} replicates a node that is not a serving master`;
      if (parseInfo(replicationText ?? '').get('master_link_status') !== 'up') return `${server.port} has no link to its master yet`;
    }
    return undefined;
  }

  /** Stops every node (SIGTERM, then SIGKILL) and removes their dirs. */
  async destroy(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.destroy()));
  }
}

async function startNode(port: number, config: string[], taken: number[]): Promise<RedisServer> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await RedisServer.start({ port, config });
    } catch (error) {
      if (attempt >= 3) throw error;
      port = await freeClusterPort(taken);
      taken.push(port);
    }
  }
}

function createCluster(ports: number[], replicasPerMaster: number): Promise<void> {
  const addresses = ports.map((port) => `127.0.0.1:${port}`);
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicasPerMaster), '--cluster-yes'],
      { timeout: 30_000 },
      (error, stdout, stderr) => {
        if (error || !stdout.includes('[OK] All 16384 slots covered'))
          reject(new Error(`redis-cli --cluster create failed: ${error?.message ?? ''}\n${stdout}\n${stderr}`));
        else resolve();
      },
    );
  });
}

/** `CLUSTER NODES` lines: `<id> <ip:port@bus> <flags> <master|-> <ping> <pong> <epoch> <link> <slots...>`. */
export function parseClusterNodes(text: string): ClusterNode[] {
  const nodes: ClusterNode[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(' ');
    if (fields.length < 8) continue;
    const [id, address, flags, master] = fields as [string, string, string, string];
    const port = Number(address.split('@')[0]!.split(':').pop());
    const flagSet = new Set(flags.split(','));
    const slots: Array<[number, number]> = [];
    for (const range of fields.slice(8)) {
      if (range.startsWith('[')) continue; // a slot being migrated or imported
      const [from, to] = range.split('-').map(Number) as [number, number | undefined];
      slots.push([from, to ?? from]);
    }
    nodes.push({
      id,
      port,
      role: flagSet.has('master') ? 'master' : 'replica',
      masterId: master === '-' ? undefined : master,
      slots,
      failing: flagSet.has('fail') || flagSet.has('fail?') || flagSet.has('noaddr'),
    });
  }
  return nodes;
}

function sameSlots(a: Array<[number, number]>, b: Array<[number, number]>): boolean {
  const key = (ranges: Array<[number, number]>): string =>
    ranges
      .map(([from, to]) => `${from}-${to}`)
      .sort()
      .join(',');
  return key(a) === key(b);
}
