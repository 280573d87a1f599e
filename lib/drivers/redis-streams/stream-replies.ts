/**
 * Normalises stream replies. ioredis gives RESP2-shaped arrays for both protocols by default,
 * but a client made with `replyMapping: 'resp3'` gives maps as plain objects; both are accepted.
 */

/** One stream entry: its id and its fields (null when the entry was trimmed away but is still pending). */
export interface StreamEntry {
  readonly id: string;
  readonly fields: Readonly<Record<string, string>> | null;
}

/** The entries of one stream in an XREADGROUP reply (null reply, no entries). */
export function entriesOfReadReply(reply: unknown, streamKey: string): StreamEntry[] {
  if (reply === null || reply === undefined) return [];
  if (Array.isArray(reply)) {
    // RESP2: [[key, entries], ...]; RESP3 map flattened by ioredis: [key, entries, key, entries, ...].
    if (reply.length > 0 && !Array.isArray(reply[0])) {
      for (let i = 0; i + 1 < reply.length; i += 2) if (text(reply[i]) === streamKey) return toEntries(reply[i + 1]);
      return [];
    }
    for (const item of reply) {
      if (Array.isArray(item) && text(item[0]) === streamKey) return toEntries(item[1]);
    }
    return [];
  }
  if (typeof reply === 'object') {
    const value = (reply as Record<string, unknown>)[streamKey];
    return value === undefined ? [] : toEntries(value);
  }
  return [];
}

/** XAUTOCLAIM: `[nextCursor, entries, deletedIds]`. */
export function parseAutoClaimReply(reply: unknown): { cursor: string; entries: StreamEntry[]; deleted: string[] } {
  if (!Array.isArray(reply)) return { cursor: '0-0', entries: [], deleted: [] };
  const deleted = Array.isArray(reply[2]) ? reply[2].map(text) : [];
  return { cursor: text(reply[0]) || '0-0', entries: toEntries(reply[1]), deleted };
}

/** Extended XPENDING: `[[id, consumer, idleMs, deliveries], ...]` as id → deliveries. */
export function deliveryCounts(reply: unknown): Map<string, number> {
  const counts = new Map<string, number>();
  if (!Array.isArray(reply)) return counts;
  for (const row of reply) {
    if (Array.isArray(row) && row.length >= 4) counts.set(text(row[0]), Number(row[3]));
  }
  return counts;
}

/** Entries as `[[id, [field, value, ...]], ...]` (or `[id, {field: value}]` under RESP3 mapping). */
export function toEntries(value: unknown): StreamEntry[] {
  if (!Array.isArray(value)) return [];
  const out: StreamEntry[] = [];
  for (const item of value) {
    if (!Array.isArray(item)) continue;
    out.push({ id: text(item[0]), fields: toFields(item[1]) });
  }
  return out;
}

function toFields(value: unknown): Record<string, string> | null {
  if (value === null || value === undefined) return null;
  // The driver's own entries have one field: an object of a fixed shape is much cheaper than a dictionary.
  if (Array.isArray(value) && value.length === 2 && text(value[0]) === 'envelope') return { envelope: text(value[1]) };
  const fields: Record<string, string> = Object.create(null) as Record<string, string>;
  if (Array.isArray(value)) {
    for (let i = 0; i + 1 < value.length; i += 2) fields[text(value[i])] = text(value[i + 1]);
    return fields;
  }
  if (typeof value === 'object') {
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) fields[key] = text(v);
    return fields;
  }
  return null;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return value === null || value === undefined ? '' : String(value);
}

/** XINFO CONSUMERS: one `[k, v, k, v, ...]` array (or object under RESP3 mapping) per consumer. */
export function consumerInfos(reply: unknown): Array<{ name: string; pending: number; idle: number }> {
  if (!Array.isArray(reply)) return [];
  return reply.map((row: unknown) => {
    const fields = toFields(row) ?? {};
    return { name: fields.name ?? '', pending: Number(fields.pending ?? 0), idle: Number(fields.idle ?? 0) };
  });
}
