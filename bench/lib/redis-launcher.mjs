export async function startRedis() { throw new Error('todo'); }
