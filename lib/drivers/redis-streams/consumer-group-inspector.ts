import type { ConsumerGroupInfo, ConsumerGroupInspector } from '../../interfaces/event-bus-driver.interface';
import { isCluster } from '../redis/shared/redis-connection';
import { deadLetterKey } from './dead-letter-stream';
import type { StreamCommands } from './stream-commands';

export interface InspectorHost {
  commands(): Promise<StreamCommands>;
  streamKey(eventName: string): string;
}

/**
 * `XINFO GROUPS` and the dead-letter `XLEN` of many streams in one pipeline (a board refresh or a
 * metrics collection costs one round trip, however many streams the app has), under the command
 * connection's deadline.
 */
export class StreamGroupInspector implements ConsumerGroupInspector {
  constructor(
    private readonly host: InspectorHost,
    readonly serviceGroup: string | undefined,
  ) {}

  async groups(eventNames: readonly string[]): Promise<ConsumerGroupInfo[]> {
    if (eventNames.length === 0) return [];
    const commands = await this.host.commands();
    const keys = eventNames.map((name) => this.host.streamKey(name));
    const replies = await commands.guard(this.query(commands, keys), 'XINFO GROUPS');
    const out: ConsumerGroupInfo[] = [];
    keys.forEach((stream, i) => {
      const [infoError, info] = replies[2 * i] ?? [null, []];
      const [, dead] = replies[2 * i + 1] ?? [null, 0];
      // A stream nobody wrote to yet has no groups ("no such key").
      if (infoError !== null || !Array.isArray(info)) return;
      for (const raw of info) {
        const fields = fieldsOf(raw);
        out.push({
          eventName: eventNames[i]!,
          stream,
          group: String(fields.name ?? ''),
          consumers: Number(fields.consumers ?? 0),
          pending: Number(fields.pending ?? 0),
          lag: fields.lag === null || fields.lag === undefined ? null : Number(fields.lag),
          deadLetters: Number(dead ?? 0),
        });
      }
    });
    return out;
  }

  /**
   * `XINFO GROUPS` and `XLEN` of each stream's dead letters, replies in that order. On a cluster
   * the streams live on different masters and a pipeline may not cross them: one per stream (its
   * two keys share a slot), sent together.
   */
  private async query(commands: StreamCommands, keys: readonly string[]): Promise<Array<[Error | null, unknown]>> {
    const client = commands.client;
    if (!isCluster(client)) {
      const pipeline = client.pipeline();
      for (const key of keys) pipeline.call('XINFO', 'GROUPS', key).call('XLEN', deadLetterKey(key));
      return (await pipeline.exec()) ?? [];
    }
    const perStream = await Promise.all(
      keys.map(async (key) => (await client.pipeline().call('XINFO', 'GROUPS', key).call('XLEN', deadLetterKey(key)).exec()) ?? []),
    );
    return perStream.flat();
  }
}

/** A group's fields from RESP2 (`[k, v, k, v…]`) or a RESP3 map (`{ k: v }`). */
function fieldsOf(raw: unknown): Record<string, unknown> {
  if (Array.isArray(raw)) {
    const out: Record<string, unknown> = {};
    for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = raw[i + 1];
    return out;
  }
  return raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>) : {};
}
