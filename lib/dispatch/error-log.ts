import type { EventError } from '../errors/event.error';

/** The bus's global error list: a ring of the latest `capacity` errors (goevent's was unbounded). */
export class ErrorLog {
  /** Grows up to `capacity`, then wraps: a large bound costs nothing until errors fill it. */
  private ring: EventError[] = [];
  private next = 0;
  private size = 0;

  constructor(private readonly capacity: number) {}

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
    this.ring = [];
    this.next = 0;
    this.size = 0;
  }
}
