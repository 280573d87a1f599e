import { EventSerializationError } from '../errors/event-serialization.error';
import { EventTooLargeError } from '../errors/event-too-large.error';
import { MessageRejectedError } from '../errors/message-rejected.error';
import type { IncomingEvent, OutgoingEvent, WireEnvelope } from '../interfaces/event-envelope.interface';
import { resolveEventType } from '../registry/event-type.registry';

/** Keys that could reach an object's prototype when copied; a message carrying one is rejected. */
const POISONED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** Cheap pre-check before the full scan; any `\u` escape may spell a poisoned key, so it scans too. */
const POISON_HINT = /"(?:__proto__|constructor|prototype)"\s*:|\\u/;

const MAX_CACHED_HEADS = 1000;

export interface CodecOptions {
  /** Bytes; `Infinity` for no limit. */
  maxEventSize: number;
  strictTypes: boolean;
  /** The publishing bus's id, written as `origin`. */
  origin: string;
}

/** An encoded event; its byte size is measured when first read (most drivers never read it). */
class EncodedEvent implements OutgoingEvent {
  constructor(
    readonly name: string,
    readonly type: string,
    readonly handleId: string,
    readonly payload: string,
    private measured: number | undefined,
  ) {}

  get size(): number {
    return (this.measured ??= Buffer.byteLength(this.payload));
  }
}

/**
 * Encodes events to the wire format and decodes them back, safely. One instance per bus.
 */
export class EventCodec {
  /** `{"event_name":…,"event_type":…,"event_data":` per name and type: the constant head of an envelope. */
  private readonly heads = new Map<string, string>();
  /** Heads of versioned events (type differs from name), by an unambiguous key of both. */
  private readonly typedHeads = new Map<string, string>();
  private readonly tail: string;

  constructor(private readonly options: CodecOptions) {
    this.tail = `,"origin":${JSON.stringify(options.origin)}}`;
  }

  /** Throws `EventSerializationError` or `EventTooLargeError`; nothing is sent then. */
  encode(name: string, type: string, data: unknown, handleId: string): OutgoingEvent {
    // The same JSON as stringifying the whole envelope (same keys, same order), but only the data is
    // serialised per event: the rest is cached or plain hex and digits (a third of the time).
    let body: string | undefined;
    try {
      body = JSON.stringify(data === undefined ? null : data);
    } catch (err) {
      throw new EventSerializationError(err instanceof Error ? err.message : String(err), err);
    }
    // A function or symbol serialises to nothing: sent as null (a bare envelope field would be omitted).
    const payload =
      this.head(name, type) +
      (body ?? 'null') +
      `,"handle_id":${JSON.stringify(handleId)},"timestamp":${Math.floor(Date.now() / 1000)}` +
      this.tail;
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a payload that fits even so is not measured now.
    const max = this.options.maxEventSize;
    if (payload.length * 3 > max) {
      const size = Buffer.byteLength(payload);
      if (size > max) throw new EventTooLargeError(size, max);
      return new EncodedEvent(name, type, handleId, payload, size);
    }
    return new EncodedEvent(name, type, handleId, payload, undefined);
  }

  private head(name: string, type: string): string {
    // Two maps: a joined key of name and type could equal a plain name (or another pair) whatever the separator.
    const heads = name === type ? this.heads : this.typedHeads;
    const key = name === type ? name : `${name.length}:${name}${type}`;
    let head = heads.get(key);
    if (head === undefined) {
      head = `{"event_name":${JSON.stringify(name)},"event_type":${JSON.stringify(type)},"event_data":`;
      // Dynamic event names must not grow memory without bound.
      if (heads.size >= MAX_CACHED_HEADS) heads.clear();
      heads.set(key, head);
    }
    return head;
  }

  /** Throws `MessageRejectedError` naming the channel, the size and the reason. */
  decode(raw: string | Buffer, channel: string): IncomingEvent {
    const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
    if (size > this.options.maxEventSize) {
      throw new MessageRejectedError(channel, size, `over the size limit of ${this.options.maxEventSize} bytes`);
    }
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw new MessageRejectedError(channel, size, `malformed JSON (${(err as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new MessageRejectedError(channel, size, 'not a JSON object envelope');
    }
    const envelope = parsed as WireEnvelope;
    if (typeof envelope.event_name !== 'string' || envelope.event_name.length === 0) {
      throw new MessageRejectedError(channel, size, 'missing or empty event_name');
    }
    const type = typeof envelope.event_type === 'string' && envelope.event_type !== '' ? envelope.event_type : envelope.event_name;
    if (POISON_HINT.test(text)) {
      const key = findPoisonedKey(envelope);
      if (key !== undefined) throw new MessageRejectedError(channel, size, `forbidden key '${key}' in event data`);
    }
    const cls = resolveEventType(type);
    if (cls === undefined && this.options.strictTypes) {
      throw new MessageRejectedError(channel, size, `unknown event_type '${type}' (strictTypes: register it with @DomainEvent)`);
    }
    let event: unknown = envelope.event_data;
    if (cls !== undefined) {
      try {
        event = rebuild(cls, envelope.event_data);
      } catch (err) {
        throw new MessageRejectedError(channel, size, `${cls.name}.fromJSON failed: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    return {
      name: envelope.event_name,
      type,
      handleId: typeof envelope.handle_id === 'string' ? envelope.handle_id : '',
      event,
      origin: typeof envelope.origin === 'string' ? envelope.origin : undefined,
    };
  }
}

function rebuild(cls: { prototype: object; fromJSON?(data: unknown): unknown }, data: unknown): unknown {
  if (typeof cls.fromJSON === 'function') return cls.fromJSON(data);
  const instance = Object.create(cls.prototype) as Record<string, unknown>;
  if (data !== null && typeof data === 'object') {
    for (const key of Object.keys(data)) {
      if (!POISONED_KEYS.has(key)) instance[key] = (data as Record<string, unknown>)[key];
    }
  }
  return instance;
}

/** Depth-first search for a poisoned key anywhere in the envelope. */
function findPoisonedKey(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (current === null || typeof current !== 'object') continue;
    for (const key of Object.keys(current)) {
      if (POISONED_KEYS.has(key)) return key;
      stack.push((current as Record<string, unknown>)[key]);
    }
  }
  return undefined;
}
