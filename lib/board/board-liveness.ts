import type { BoardSource } from './board-source.interface';

/** How long recording goes on after the last poll (the page polls every second while visible). */
export const WATCH_LEASE_MS = 10_000;

/**
 * Turns page polls into a watch of the source: the first poll starts recording, and recording stops
 * `WATCH_LEASE_MS` after the last one (the tab closed), so the bus pays for the board only while
 * someone looks at it.
 */
export class BoardLiveness {
  private release: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private version = 0;

  constructor(
    private readonly source: BoardSource,
    private readonly leaseMs: number = WATCH_LEASE_MS,
  ) {}

  /** A page polled: keep (or start) recording; returns the change counter. */
  touch(): number {
    if (this.release === undefined) {
      this.release = this.source.watch(() => {
        this.version++;
      });
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.stop(), this.leaseMs);
      // A board left open must not keep a closing app alive.
      this.timer.unref();
    } else {
      this.timer.refresh();
    }
    return this.version;
  }

  get watching(): boolean {
    return this.release !== undefined;
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.release?.();
    this.release = undefined;
  }
}
