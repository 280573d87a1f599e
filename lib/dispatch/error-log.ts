import type { EventError } from '../errors/event.error';

/** The bus's global error list: a ring of the latest `capacity` errors (goevent's was unbounded). */
export class ErrorLog {
  private readonly ring: Array<EventError | undefined>;
  private next = 0;
  private size = 0;

  constructor(private readonly capacity: number) {
    this.ring = new Array<EventError | undefined>(capacity);
  }

  push(error: EventError): void {
    this.ring[this.next] = error;
    this.next = (this.next + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  /** Oldest first. */
  list(): EventError[] {
    const out: EventError[] = [];
    const start = (this.next - this.size + this.capacity) % this.capacity;
    for (let i = 0; i < this.size; i++) out.push(this.ring[(start + i) % this.capacity]!);
    return out;
  }

  clear(): void {
    this.ring.fill(undefined);
    this.next = 0;
    this.size = 0;
  }
}
