import { parseInfo, redisCli, tryRedisCli, waitFor } from './redis-cli';
import { RedisServer } from './redis-server';

/**
 * A real Sentinel group for one test file: one master, `replicas` replicas (`replicaof`), `sentinels`
 * Sentinels (`redis-server <conf> --sentinel`, each with its own writable conf, which Sentinel rewrites)
 * monitoring it as `name` with a quorum of a majority. All on free loopback ports, stopped by pid.
 */
export interface RedisSentinelOptions {
  name?: string;
  replicas?: number;
  sentinels?: number;
  /** `sentinel down-after-milliseconds`: how long a silent master takes to be declared down. */
  downAfterMs?: number;
  /** `sentinel failover-timeout`. */
  failoverTimeoutMs?: number;
}

export interface SentinelAddress {
  host: string;
  port: number;
}

export class RedisSentinelGroup {
  private constructor(
    readonly name: string,
    /** Every data node (the master first at start; roles change on failover: see `master`). */
    readonly dataServers: RedisServer[],
    readonly sentinelServers: RedisServer[],
    private currentMaster: RedisServer,
  ) {}

  static async start(options: RedisSentinelOptions = {}): Promise<RedisSentinelGroup> {
    const name = options.name ?? 'mymaster';
    const replicaCount = options.replicas ?? 1;
    const sentinelCount = options.sentinels ?? 3;
    const quorum = Math.floor(sentinelCount / 2) + 1;
    // A replica's first sync starts at once (the default waits 5 s for more replicas to share it).
    const dataConfig = ['repl-diskless-sync-delay 0'];
    const started: RedisServer[] = [];
    try {
      const master = await RedisServer.start({ config: dataConfig });
      started.push(master);
      const replicas = await Promise.all(
        Array.from({ length: replicaCount }, () => RedisServer.start({ config: [...dataConfig, `replicaof 127.0.0.1 ${master.port}`] })),
      );
      started.push(...replicas);
      const sentinels = await Promise.all(
        Array.from({ length: sentinelCount }, () =>
          RedisServer.start({
            sentinel: true,
            config: [
              `sentinel monitor ${name} 127.0.0.1 ${master.port} ${quorum}`,
              `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1_000}`,
              `sentinel failover-timeout ${name} ${options.failoverTimeoutMs ?? 5_000}`,
              `sentinel parallel-syncs ${name} 1`,
            ],
          }),
        ),
      );
      started.push(...sentinels);
      const group = new RedisSentinelGroup(name, [master, ...replicas], sentinels, master);
      await group.waitSettled(30_000);
      return group;
    } catch (error) {
      await Promise.all(started.map((server) => server.destroy()));
      throw error;
    }
  }

  /** For `new Redis({ sentinels, name })`. */
  get sentinels(): SentinelAddress[] {
    return this.sentinelServers.map((server) => ({ host: '127.0.0.1', port: server.port }));
  }

  /** The data node the Sentinels last agreed is the master. */
  get master(): RedisServer {
    return this.currentMaster;
  }

  /** Running data nodes that are not the master. */
  get replicas(): RedisServer[] {
    return this.dataServers.filter((server) => server !== this.currentMaster && server.running);
  }

  /** What each running Sentinel answers to `SENTINEL get-master-addr-by-name` (port, or undefined). */
  async reportedMasterPorts(): Promise<Array<number | undefined>> {
    return Promise.all(
      this.sentinelServers
        .filter((server) => server.running)
        .map(async (server) => {
          const out = await tryRedisCli(server.port, 'SENTINEL', 'get-master-addr-by-name', this.name);
          const port = out?.trim().split('\n')[1];
          return port === undefined ? undefined : Number(port);
        }),
    );
  }

  /**
   * SIGKILLs the master and waits until every Sentinel reports a replica as the new master and that node
   * says `role:master`. Returns the new master.
   */
  async killMaster(timeoutMs = 30_000): Promise<RedisServer> {
    const old = this.currentMaster;
    await old.kill();
    const promoted = await waitFor(
      'the Sentinels to promote a replica',
      async () => {
        const ports = await this.reportedMasterPorts();
        const port = ports[0];
        if (port === undefined || port === old.port || !ports.every((other) => other === port)) return undefined;
        const server = this.dataServers.find((candidate) => candidate.port === port && candidate.running);
        if (!server) return undefined;
        const role = parseInfo((await tryRedisCli(port, 'INFO', 'replication')) ?? '').get('role');
        return role === 'master' ? server : undefined;
      },
      timeoutMs,
      100,
    );
    this.currentMaster = promoted;
    return promoted;
  }

  /**
   * Starts a killed or stopped data node again (same port, same conf) as a replica of the current master,
   * and waits until the Sentinels list it with its link up. The Sentinels would turn an old master into a
   * replica by themselves, but only after about 20 s; `REPLICAOF` at once does what they would do.
   */
  async restart(server: RedisServer, timeoutMs = 30_000): Promise<void> {
    if (server.running) throw new Error(`node ${server.port} is running`);
    await server.launch();
    if (server !== this.currentMaster) await redisCli(server.port, 'REPLICAOF', '127.0.0.1', String(this.currentMaster.port));
    await this.waitSettled(timeoutMs);
  }

  /**
   * Waits until every running Sentinel reports the current master, knows every other Sentinel, and lists
   * every running replica with its link to the master up (and the replicas say so themselves).
   */
  async waitSettled(timeoutMs = 30_000): Promise<void> {
    let problem: string | undefined;
    await waitFor(
      'a settled Sentinel group',
      async () => {
        problem = await this.settleProblem();
        return problem === undefined ? true : undefined;
      },
      timeoutMs,
      100,
    ).catch((error: Error) => {
      throw new Error(`${error.message}: ${problem}`);
    });
  }

  private async settleProblem(): Promise<string | undefined> {
    const sentinels = this.sentinelServers.filter((server) => server.running);
    const replicaPorts = this.replicas.map((server) => server.port);
    for (const sentinel of sentinels) {
      const masterFields = pairs((await tryRedisCli(sentinel.port, 'SENTINEL', 'master', this.name)) ?? '');
      if (Number(masterFields.get('port')) !== this.currentMaster.port)
        return `${sentinel.port} reports master ${masterFields.get('port')}`;
      if ((masterFields.get('flags') ?? '') !== 'master') return `${sentinel.port} flags the master ${masterFields.get('flags')}`;
      if (Number(masterFields.get('num-other-sentinels')) !== sentinels.length - 1)
        return `${sentinel.port} knows ${masterFields.get('num-other-sentinels')} other sentinels`;
      const listed = records((await tryRedisCli(sentinel.port, 'SENTINEL', 'replicas', this.name)) ?? '');
      for (const port of replicaPorts) {
        const replica = listed.find((fields) => Number(fields.get('port')) === port);
        if (!replica) return `${sentinel.port} does not list replica ${port}`;
        if (replica.get('flags') !== 'slave') return `${sentinel.port} flags replica ${port} ${replica.get('flags')}`;
        if (replica.get('master-link-status') !== 'ok')
          return `${sentinel.port} sees replica ${port} link ${replica.get('master-link-status')}`;
        if (Number(replica.get('master-port')) !== this.currentMaster.port)
          return `${sentinel.port} sees replica ${port} following ${replica.get('master-port')}`;
      }
    }
    for (const port of replicaPorts) {
      const replication = parseInfo((await tryRedisCli(port, 'INFO', 'replication')) ?? '');
      if (replication.get('master_link_status') !== 'up' || Number(replication.get('master_port')) !== this.currentMaster.port)
        return `replica ${port} link ${replication.get('master_link_status')} to ${replication.get('master_port')}`;
    }
    return undefined;
  }

  /** Stops every process (SIGTERM, then SIGKILL) and removes their dirs. */
  async destroy(): Promise<void> {
    await Promise.all([...this.sentinelServers, ...this.dataServers].map((server) => server.destroy()));
  }
}

/** redis-cli prints a flat reply one element a line: `key`, `value`, ... */
function pairs(text: string): Map<string, string> {
  const lines = text.split('\n');
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < lines.length; i += 2) fields.set(lines[i]!, lines[i + 1]!);
  return fields;
}

/** An array of flat key/value records, flattened by redis-cli; each record starts with `name`. */
function records(text: string): Array<Map<string, string>> {
  const lines = text.split('\n');
  const out: Array<Map<string, string>> = [];
  for (let i = 0; i + 1 < lines.length; i += 2) {
    if (lines[i] === 'name') out.push(new Map());
    out[out.length - 1]?.set(lines[i]!, lines[i + 1]!);
  }
  return out;
}
