import { DELIVERED, type DeliverFn } from '../interfaces/event-bus-driver.interface';
import type { IncomingEvent } from '../interfaces/event-envelope.interface';
import type { ListenerOutcome } from './listener-outcome';
import type { TrackingSink } from './tracking-transport';

/**
 * One tracked copy a pub/sub receiver got: it is the copy handed to the bus (an incoming event with
 * a sink), collects the outcomes of the listeners the bus ran for it and calls `done` once they all
 * settled. One object per copy (no spread copy, no Promise.all, no closure unless a listener is still running).
 */
export class TrackedCopy implements IncomingEvent, TrackingSink {
  readonly name: string;
  readonly type: string;
  readonly handleId: string;
  readonly event: unknown;
  readonly origin?: string;
  readonly replyTo?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly outcomes: ListenerOutcome[] = [];
  dropped = false;
  private running = 1;

  constructor(
    incoming: IncomingEvent,
    /** What received the copy (the subscribed channel or pattern): the report answers for it. */
    readonly via: string,
    private readonly done: (copy: TrackedCopy) => void,
    private readonly failed: (copy: TrackedCopy, err: unknown) => void,
  ) {
    this.name = incoming.name;
    this.type = incoming.type;
    this.handleId = incoming.handleId;
    this.event = incoming.event;
    this.origin = incoming.origin;
    this.replyTo = incoming.replyTo;
    this.headers = incoming.headers;
  }

  get sink(): TrackingSink {
    return this;
  }

  /** Hands the copy to each delivery of the subscription; reports when the last one settled. */
  deliverTo(delivers: Iterable<DeliverFn>): void {
    for (const deliver of delivers) {
      let run: Promise<void>;
      try {
        run = deliver(this);
      } catch (err) {
        this.failed(this, err);
        continue;
      }
      // Finished already (sync listeners): its outcomes are in, nothing to wait for.
      if (run === DELIVERED) continue;
      this.running++;
      this.settleAfter(run);
    }
    this.settle();
  }

  /** The closures live here, off the loop above: a copy whose listeners all finished at once makes none. */
  private settleAfter(run: Promise<void>): void {
    run.then(
      () => this.settle(),
      (err: unknown) => {
        this.failed(this, err);
        this.settle();
      },
    );
  }

  private settle(): void {
    if (--this.running === 0) this.done(this);
  }
}
