/** One watched stream: the newest entry id known, and how often new entries were seen. */
interface Watched {
  /** Consumers reading this stream (the stream is watched while there is one). */
  users: number;
  /** The newest entry id seen when the generation was last raised (undefined: not looked up yet). */
  lastId: string | undefined;
  /**
   * Raised each time new entries were seen past `lastId`, after `lastId` moved to the stream's end.
   * A group read issued after a consumer saw generation `g` reads every entry up to that end; any
   * entry appended later is past `lastId`, so it raises the generation again: no wake-up is lost.
   */
  generation: number;
  waiters: Set<() => void>;
}

/**
 * The streams one Redis node's consumers read, with the generation bookkeeping every wake-up
 * source shares (see StreamWakeSource): which ends are known, who waits for which stream.
 */
export class WatchedStreams {
  private readonly streams = new Map<string, Watched>();

  /** Counts one more consumer of `streamKey`; true when the stream was not watched before. */
  add(streamKey: string): boolean {
    let watched = this.streams.get(streamKey);
    const added = watched === undefined;
    if (watched === undefined) {
      watched = { users: 0, lastId: undefined, generation: 0, waiters: new Set() };
      this.streams.set(streamKey, watched);
    }
    watched.users++;
    return added;
  }

  /** One consumer fewer; the stream is forgotten (its waiters woken) with the last. */
  remove(streamKey: string): void {
    const watched = this.streams.get(streamKey);
    if (watched === undefined || --watched.users > 0) return;
    this.streams.delete(streamKey);
    for (const wake of watched.waiters) wake();
  }

  get size(): number {
    return this.streams.size;
  }

  has(streamKey: string): boolean {
    return this.streams.has(streamKey);
  }

  keys(): string[] {
    return [...this.streams.keys()];
  }

  /** The known end of a stream (undefined: not looked up yet, or not watched). */
  lastId(streamKey: string): string | undefined {
    return this.streams.get(streamKey)?.lastId;
  }

  /** Streams whose end is unknown (new, or after a reconnect). */
  stale(): string[] {
    return [...this.streams].filter(([, watched]) => watched.lastId === undefined).map(([key]) => key);
  }

  /** Every end becomes unknown (a reconnect: what was appended meanwhile woke nobody). */
  forgetEnds(): void {
    for (const watched of this.streams.values()) watched.lastId = undefined;
  }

  /** The end of a stream was looked up: its consumers read (their read covers everything up to it). */
  setEnd(streamKey: string, id: string): void {
    const watched = this.streams.get(streamKey);
    if (watched === undefined) return;
    watched.lastId = id;
    this.raise(watched);
  }

  generation(streamKey: string): number {
    return this.streams.get(streamKey)?.generation ?? 0;
  }

  waitForChange(streamKey: string, seen: number, timeoutMs: number, onCancel: (cancel: () => void) => void): Promise<boolean> {
    const watched = this.streams.get(streamKey);
    if (watched !== undefined && watched.generation !== seen) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const done = (changed: boolean): void => {
        clearTimeout(timer);
        watched?.waiters.delete(wake);
        resolve(changed);
      };
      const wake = (): void => done(watched !== undefined && watched.generation !== seen);
      const timer = setTimeout(() => done(false), timeoutMs);
      timer.unref?.();
      watched?.waiters.add(wake);
      onCancel(() => done(false));
    });
  }

  /**
   * `id` exists in the stream. If it is past the known end, that end moves to it and the stream's
   * consumers are woken: a read they issue now covers every entry up to `id`. This is what keeps a
   * busy stream from waking its consumers once per entry: their reads move its end in big steps.
   */
  advance(streamKey: string, id: string): void {
    const watched = this.streams.get(streamKey);
    if (watched === undefined || watched.lastId === undefined || compareIds(id, watched.lastId) <= 0) return;
    watched.lastId = id;
    this.raise(watched);
  }

  private raise(watched: Watched): void {
    watched.generation++;
    for (const wake of [...watched.waiters]) wake();
  }
}

/** Orders two stream entry ids (`ms-seq`). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-');
  const [bm, bs] = b.split('-');
  const ms = Number(am) - Number(bm);
  if (ms !== 0) return ms;
  return Number(as ?? 0) - Number(bs ?? 0);
}

/** The id of the one entry of an `XREVRANGE ... COUNT 1` reply (undefined for an empty stream). */
export function newestId(reply: unknown): string | undefined {
  if (!Array.isArray(reply) || reply.length === 0) return undefined;
  const entry: unknown = reply[0];
  if (Array.isArray(entry)) return text(entry[0]);
  return undefined;
}

export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString() : String(value);
}
