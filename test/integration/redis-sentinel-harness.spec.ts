import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseInfo, redisCli } from '../support/redis-cli';
import { RedisSentinelGroup } from '../support/redis-sentinel';

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
