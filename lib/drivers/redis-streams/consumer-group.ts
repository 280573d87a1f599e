import type { StreamCommands } from './stream-commands';
import { consumerInfos } from './stream-replies';

/** The consumer group of a listener: `streams.group + ':' + Class.method` (undefined without `streams.group`). */
export function groupOf(serviceGroup: string | undefined, listenerName: string): string | undefined {
  return serviceGroup === undefined ? undefined : `${serviceGroup}:${listenerName}`;
}

/**
 * Creates a consumer group if it does not exist (an existing group, or an empty stream, is fine).
 * `startId` `'$'`: only entries appended from now on; `'0'`: everything the stream holds.
 */
export async function ensureGroup(commands: StreamCommands, streamKey: string, group: string, startId: '$' | '0'): Promise<void> {
  try {
    await commands.call('XGROUP', 'CREATE', streamKey, group, startId, 'MKSTREAM');
  } catch (err) {
    if (!String((err as Error)?.message).startsWith('BUSYGROUP')) throw err;
  }
}

/**
 * Replicas that stopped leave their consumer behind in the group (names differ per process): one
 * that holds nothing and was idle longer than `goneAfterMs` is deleted. Deleting a consumer with no
 * pending entries loses nothing, even if it was alive after all (its next read re-creates it).
 * Returns the names removed.
 */
export async function forgetGoneConsumers(
  commands: StreamCommands,
  streamKey: string,
  group: string,
  self: string,
  goneAfterMs: number,
): Promise<Array<{ name: string; idle: number }>> {
  const removed: Array<{ name: string; idle: number }> = [];
  const rows = await commands.call('XINFO', 'CONSUMERS', streamKey, group);
  for (const info of consumerInfos(rows)) {
    if (info.name !== self && info.pending === 0 && info.idle > goneAfterMs) {
      await commands.call('XGROUP', 'DELCONSUMER', streamKey, group, info.name);
      removed.push(info);
    }
  }
  return removed;
}
