import Redis, { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInfo, redisCli } from '../support/redis-cli';
import { RedisCluster } from '../support/redis-cluster';
import { RedisSentinelGroup } from '../support/redis-sentinel';

describe('Redis Cluster test harness', () => {
  let cluster: RedisCluster;
  let client: Cluster | undefined;
  beforeAll(async () => {
    cluster = await RedisCluster.start();
  });
  afterAll(async () => {
    client?.disconnect();
    await cluster?.destroy();
  });

  it('comes up with 3 masters and 3 replicas on free ports, one replica per master', async () => {
    const masters = await cluster.masters();
    const replicas = await cluster.replicas();
    expect(masters).toHaveLength(3);
    expect(replicas).toHaveLength(3);
    const ports = cluster.servers.map((server) => server.port);
    expect(new Set(ports).size).toBe(6);
    expect(ports).not.toContain(6379);
    // No node's port is another node's cluster bus port.
    for (const port of ports) expect(ports).not.toContain(port + 10_000);
    for (const master of masters) expect(replicas.filter((replica) => replica.masterId === master.id)).toHaveLength(1);
    for (const server of cluster.servers) expect(parseInfo(await redisCli(server.port, 'CLUSTER', 'INFO')).get('cluster_state')).toBe('ok');
  });

  it('spreads hash-tagged keys over several masters, each key stored on the master of its slot', async () => {
    client = new Cluster(cluster.startupNodes, { redisOptions: { maxRetriesPerRequest: 1 } });
    const masters = await cluster.masters();
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const key = `neb:{event-${i}}`;
      await client.set(key, String(i));
      const slot = Number(await client.cluster('KEYSLOT', key));
      const master = masters.find((node) => node.slots.some(([from, to]) => slot >= from && slot <= to))!;
      owners.add(master.port);
      // Asked directly (no redirect), the owning master has the key.
      expect((await redisCli(master.port, 'GET', key)).trim()).toBe(String(i));
    }
    expect(owners.size).toBe(3);
    expect((await cluster.masterOfKey('neb:{event-0}')).port).toBe(owners.values().next().value);
    // The hash tag pins a stream and its dead-letter stream to one slot.
    expect(await cluster.slotOf('neb:{OrderPlaced}:dlq')).toBe(await cluster.slotOf('neb:{OrderPlaced}'));
    client.disconnect();
    client = undefined;
  });

  it('moves a slot with its keys to another master (MOVED afterwards, ASK while half-moved)', async () => {
    const key = 'neb:{moving}';
    const slot = await cluster.slotOf(key);
    const from = await cluster.masterOfSlot(slot);
    const to = (await cluster.masters()).find((node) => node.id !== from.id)!;
    await redisCli(from.port, 'SET', key, 'v');
    let duringMove = '';
    await cluster.moveSlot(slot, to.port, async () => {
      duringMove = (await redisCli(from.port, 'GET', 'neb:{moving}:not-there')).trim();
    });
    expect(duringMove).toBe(`ASK ${slot} 127.0.0.1:${to.port}`);
    expect((await cluster.masterOfSlot(slot)).id).toBe(to.id);
    expect((await redisCli(to.port, 'GET', key)).trim()).toBe('v');
    expect((await redisCli(from.port, 'GET', key)).trim()).toBe(`MOVED ${slot} 127.0.0.1:${to.port}`);
  });

  it('replaces a SIGKILLed master with its replica, which has the data; the old master rejoins as a replica', async () => {
    const key = 'neb:{failover}';
    const victim = await cluster.masterOfKey(key);
    const replica = (await cluster.replicas()).find((node) => node.masterId === victim.id)!;
    await redisCli(victim.port, 'SET', key, 'kept');
    expect((await redisCli(victim.port, 'WAIT', '1', '2000')).trim()).toBe('1');

    const promoted = await cluster.killMaster(victim.port);
    expect(cluster.server(victim.port).running).toBe(false);
    expect(promoted.id).toBe(replica.id);
    expect((await cluster.masterOfKey(key)).port).toBe(replica.port);
    expect((await redisCli(replica.port, 'GET', key)).trim()).toBe('kept');
    expect(await cluster.masters()).toHaveLength(3);

    const rejoined = await cluster.restart(victim.port);
    expect(rejoined.role).toBe('replica');
    expect(rejoined.masterId).toBe(replica.id);
    expect(await cluster.replicas()).toHaveLength(3);
  });
});

describe('Redis Sentinel test harness', () => {
  let group: RedisSentinelGroup;
  let client: Redis | undefined;
  beforeAll(async () => {
    group = await RedisSentinelGroup.start();
  });
  afterAll(async () => {
    client?.disconnect();
    await group?.destroy();
  });

  it('comes up with a master, a replica and 3 Sentinels that agree on the master', async () => {
    expect(group.sentinelServers).toHaveLength(3);
    expect(group.replicas).toHaveLength(1);
    expect(await group.reportedMasterPorts()).toEqual([group.master.port, group.master.port, group.master.port]);
    expect(parseInfo(await redisCli(group.replicas[0]!.port, 'INFO', 'replication')).get('master_port')).toBe(String(group.master.port));
    client = new Redis({ sentinels: group.sentinels, name: group.name, maxRetriesPerRequest: 1 });
    await client.set('neb:sentinel', 'before');
    expect((await redisCli(group.master.port, 'GET', 'neb:sentinel')).trim()).toBe('before');
    client.disconnect();
    client = undefined;
  });

  it('fails over to the replica when the master is SIGKILLed; the old master rejoins as a replica', async () => {
    const old = group.master;
    const replica = group.replicas[0]!;
    const promoted = await group.killMaster();
    expect(promoted).toBe(replica);
    expect(old.running).toBe(false);
    expect(await group.reportedMasterPorts()).toEqual([replica.port, replica.port, replica.port]);
    expect(parseInfo(await redisCli(replica.port, 'INFO', 'replication')).get('role')).toBe('master');

    await group.restart(old);
    expect(group.replicas).toEqual([old]);
    expect(parseInfo(await redisCli(old.port, 'INFO', 'replication')).get('master_port')).toBe(String(replica.port));
  });
});
