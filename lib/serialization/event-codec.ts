import { EventSerializationError } from '../errors/event-serialization.error';
import { EventTooLargeError } from '../errors/event-too-large.error';
import { MessageRejectedError } from '../errors/message-rejected.error';
import type { IncomingEvent, OutgoingEvent, WireEnvelope } from '../interfaces/event-envelope.interface';
import { lookupEventType, soleClassForName } from '../registry/event-type.registry';
import { invalidEventNameReason } from '../routing/event-name';
import {
  DEFAULT_MAX_EVENT_DEPTH,
  FORBIDDEN_KEYS,
  findForbiddenKey,
  findUnsafe,
  mayHaveForbiddenKey,
  nestsDeeperThan,
  TOO_DEEP,
} from './payload-safety';

const MAX_CACHED_HEADS = 1000;

export interface CodecOptions {
  /** Bytes; `Infinity` for no limit. */
  maxEventSize: number;
  strictTypes: boolean;
  /** Nesting levels of objects and arrays allowed inside `event_data`, sent or received. Default 64. */
  maxDepth?: number;
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
 * Encodes events to the wire format (goevent v1.1's JSON envelope) and decodes them back, safely.
 * One instance per bus. What a receiver would reject is refused when encoding too, so a publisher
 * learns of it at dispatch instead of every receiver dropping the event.
 */
export class EventCodec {
  /** `{"event_name":…,"event_type":…,"event_data":` per name and type: the constant head of an envelope. */
  private readonly heads = new Map<string, string>();
  /** Heads of versioned events (type differs from name), by an unambiguous key of both. */
  private readonly typedHeads = new Map<string, string>();
  private readonly tail: string;
  private readonly maxDepth: number;
  private second = -1;
  private stamp = '';
  private replyTo: string | undefined = undefined;
  private replyToText = '';
  /** Event names received and found valid (bounded like the heads). */
  private readonly validNames = new Set<string>();

  constructor(private readonly options: CodecOptions) {
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_EVENT_DEPTH;
    this.tail = `,"origin":${JSON.stringify(options.origin)}}`;
  }

  /**
   * Throws `EventSerializationError` or `EventTooLargeError`; nothing is sent then. `headers` (trace
   * context) and `replyTo` (a tracked dispatch's reports channel) go before `origin`, which must stay
   * last: a pub/sub driver recognises its own echo by the tail.
   */
  encode(
    name: string,
    type: string,
    data: unknown,
    handleId: string,
    headers?: Readonly<Record<string, string>>,
    replyTo?: string,
  ): OutgoingEvent {
    // The same JSON as stringifying the whole envelope (same keys, same order), but only the data is
    // serialised per event: the rest is cached or plain hex and digits (a third of the time).
    let body: string | undefined;
    try {
      body = JSON.stringify(data === undefined ? null : data);
    } catch (err) {
      throw new EventSerializationError(err instanceof Error ? err.message : String(err), err);
    }
    if (body !== undefined) this.assertSendable(body);
    // A function or symbol serialises to nothing: sent as null (a bare envelope field would be omitted).
    const payload =
      this.head(name, type) +
      (body ?? 'null') +
      `,"handle_id":${JSON.stringify(handleId)}` +
      this.timestamp() +
      // Tracked dispatches only; before `origin`, so the envelope still ends with it (echo detection).
      (replyTo === undefined ? '' : this.replyToField(replyTo)) +
      (headers === undefined ? '' : `,"headers":${JSON.stringify(headers)}`) +
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

  /** Receivers reject forbidden keys and absurd nesting: refuse them here, before anything runs. */
  private assertSendable(body: string): void {
    if (nestsDeeperThan(body, this.maxDepth)) {
      throw new EventSerializationError(
        `event data nests deeper than ${this.maxDepth} levels (redis.maxEventDepth); flatten it or raise the limit`,
      );
    }
    const key = mayHaveForbiddenKey(body) ? findForbiddenKey(JSON.parse(body)) : undefined;
    if (key !== undefined) {
      throw new EventSerializationError(
        `event data has the key '${key}', which receivers reject (it reaches or shadows Object.prototype); rename it`,
      );
    }
  }

  /** `,"reply_to":"<channel>"`: one bus has one reports channel, so it is quoted once, not per tracked event. */
  private replyToField(replyTo: string): string {
    if (replyTo !== this.replyTo) {
      this.replyTo = replyTo;
      this.replyToText = `,"reply_to":${JSON.stringify(replyTo)}`;
    }
    return this.replyToText;
  }

  /** `,"timestamp":<unix seconds>`, made once a second rather than per event. */
  private timestamp(): string {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.second) {
      this.second = second;
      this.stamp = `,"timestamp":${second}`;
    }
    return this.stamp;
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

  /**
   * Throws `MessageRejectedError` naming the channel, the size and the reason. `expectedName` is the
   * event the channel or stream carries: the channel decides the name, so a message claiming another
   * one (or a type registered for another one) is rejected rather than delivered where its sender
   * may not publish.
   */
  decode(raw: string | Buffer, channel: string, expectedName?: string): IncomingEvent {
    // UTF-8 takes at most 3 bytes per UTF-16 unit: a text that fits even so is not measured.
    const max = this.options.maxEventSize;
    if (typeof raw === 'string' ? raw.length * 3 > max && Buffer.byteLength(raw) > max : raw.length > max) {
      throw rejected(channel, raw, `over the size limit of ${max} bytes`);
    }
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      throw rejected(channel, raw, `malformed JSON (${(err as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw rejected(channel, raw, 'not a JSON object envelope');
    }
    const envelope = parsed as WireEnvelope;
    const name = envelope.event_name;
    if (typeof name !== 'string' || name.length === 0) {
      throw rejected(channel, raw, 'missing or empty event_name');
    }
    if (!this.validNames.has(name)) {
      const invalid = invalidEventNameReason(name);
      if (invalid !== undefined) throw rejected(channel, raw, `invalid event_name: ${invalid}`);
      // A channel carries one name: remembering the valid ones spares a Unicode regex per message.
      if (this.validNames.size >= MAX_CACHED_HEADS) this.validNames.clear();
      this.validNames.add(name);
    }
    if (expectedName !== undefined && name !== expectedName) {
      throw rejected(channel, raw, `event_name '${name}' is not the event of this channel ('${expectedName}')`);
    }
    const type = typeof envelope.event_type === 'string' && envelope.event_type !== '' ? envelope.event_type : name;
    // On the parsed envelope (escapes resolved), not a regex over the text: a third of the cost. The
    // envelope is one level, its event_data the next.
    const unsafe = findUnsafe(envelope, this.maxDepth + 1);
    if (unsafe === TOO_DEEP) throw rejected(channel, raw, `event_data nests deeper than ${this.maxDepth} levels (redis.maxEventDepth)`);
    if (unsafe !== undefined) throw rejected(channel, raw, `forbidden key '${unsafe}' in event data`);
    const cls = this.classOf(type, name, channel, raw);
    let event: unknown = envelope.event_data;
    if (cls !== undefined) {
      const data = envelope.event_data;
      if (typeof cls.fromJSON !== 'function' && (data === null || typeof data !== 'object' || Array.isArray(data))) {
        throw rejected(channel, raw, `event_data of '${type}' (${cls.name}) must be a JSON object (got ${kindOf(data)})`);
      }
      try {
        event = rebuild(cls, data);
      } catch (err) {
        throw rejected(channel, raw, `${cls.name}.fromJSON failed: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    // One object of one shape (no spread of an optional field: that built two more per message).
    return {
      name,
      type,
      handleId: typeof envelope.handle_id === 'string' ? envelope.handle_id : '',
      event,
      origin: typeof envelope.origin === 'string' ? envelope.origin : undefined,
      replyTo: typeof envelope.reply_to === 'string' ? envelope.reply_to : undefined,
      headers: envelope.headers === undefined ? undefined : headersOf(envelope.headers),
    };
  }

  /**
   * The class to rebuild as: the one registered under `type`, else the only one registered for the
   * event's name (goevent always sends the name as `event_type`, even for versioned types), else none.
   */
  private classOf(type: string, name: string, channel: string, raw: string | Buffer): EventClassLike | undefined {
    const registered = lookupEventType(type);
    if (registered !== undefined) {
      if (registered.name !== name) {
        throw rejected(channel, raw, `event_type '${type}' is registered for event '${registered.name}', not '${name}'`);
      }
      return registered.cls;
    }
    const sole = soleClassForName(name);
    if (sole !== undefined) return sole;
    if (this.options.strictTypes) {
      throw rejected(channel, raw, `unknown event_type '${type}' (strictTypes: register it with @DomainEvent)`);
    }
    return undefined;
  }
}

type EventClassLike = { readonly name: string; prototype: object; fromJSON?(data: unknown): unknown };

const MAX_HEADERS = 32;
const MAX_HEADER_LENGTH = 1024;

/** A rejection naming the message's size in bytes (measured only now: most messages are never rejected). */
function rejected(channel: string, raw: string | Buffer, reason: string): MessageRejectedError {
  return new MessageRejectedError(channel, typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length, reason);
}

/** The string entries of a received `headers` object, bounded (anything else in it is ignored). */
function headersOf(value: unknown): Readonly<Record<string, string>> | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  let n = 0;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    if (typeof v !== 'string' || v.length > MAX_HEADER_LENGTH || FORBIDDEN_KEYS.has(key)) continue;
    out[key] = v;
    if (++n >= MAX_HEADERS) break;
  }
  return n === 0 ? undefined : out;
}

function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** `data` has no forbidden key here (`decode` rejected those first), so a native copy is safe. */
function rebuild(cls: { prototype: object; fromJSON?(data: unknown): unknown }, data: unknown): unknown {
  if (typeof cls.fromJSON === 'function') return cls.fromJSON(data);
  return Object.assign(Object.create(cls.prototype) as object, data);
}
