import type { DriverHealth } from '../../../interfaces/event-bus-driver.interface';
import { beforeDeadline, TIMED_OUT } from './deadline';
import { errorMessage, type RedisClient } from './redis-connection';

/**
 * A driver's health: every connection ready and Redis answering a PING on `probe` within
 * `timeoutMs`. A server that accepts the connection but never answers (stopped, overloaded) is down
 * after `timeoutMs`, never a wait without end.
 */
export async function probeConnections(
  connections: ReadonlyMap<string, RedisClient | undefined>,
  probe: RedisClient | undefined,
  timeoutMs: number,
  consumers: number,
): Promise<DriverHealth> {
  const states: Record<string, string> = {};
  let ready = true;
  for (const [role, client] of connections) {
    states[role] = client?.status ?? 'not open';
    if (client?.status !== 'ready') ready = false;
  }
  if (!ready || probe === undefined) return { connected: false, connections: states, consumers, error: 'not connected to Redis' };
  try {
    if ((await beforeDeadline(probe.ping(), Date.now() + timeoutMs)) === TIMED_OUT) {
      return { connected: false, connections: states, consumers, error: `Redis did not answer a PING within ${timeoutMs} ms` };
    }
  } catch (err) {
    return { connected: false, connections: states, consumers, error: `PING failed: ${errorMessage(err)}` };
  }
  return { connected: true, connections: states, consumers };
}
