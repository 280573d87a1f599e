import { Injectable } from '@nestjs/common';

export interface ReceivedEvent {
  readonly listener: string;
  readonly name: string;
  readonly data: unknown;
  readonly at: string;
}

/** What this process's listeners have seen, newest last (bounded), for GET /received. */
@Injectable()
export class ReceivedEvents {
  private readonly events: ReceivedEvent[] = [];

  record(listener: string, name: string, data: unknown): void {
    this.events.push({ listener, name, data, at: new Date().toISOString() });
    if (this.events.length > 1000) this.events.shift();
  }

  list(): readonly ReceivedEvent[] {
    return this.events;
  }
}
