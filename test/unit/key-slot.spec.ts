import { describe, expect, it } from 'vitest';
import { keySlot } from '../../lib/drivers/redis/shared/key-slot';

/** Values from Redis's CLUSTER KEYSLOT (the cluster spec checks more against a live cluster). */
describe('keySlot', () => {
  it('hashes like Redis Cluster, hash tags included', () => {
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('neb:{OrderPlaced}:dlq')).toBe(keySlot('neb:{OrderPlaced}'));
    // An empty tag does not count: the whole key is hashed.
    expect(keySlot('a{}b')).not.toBe(keySlot(''));
  });
});
