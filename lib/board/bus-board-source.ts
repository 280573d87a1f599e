import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { DeadLetterService } from '../dead-letters/dead-letter.service';
import { BusRuntime } from '../core/bus-runtime';
import type { ListenerOptions } from '../interfaces/listener-options.interface';
import type {
  BoardConsumerGroup,
  BoardDeadLetters,
  BoardError,
  BoardEvent,
  BoardListener,
  BoardSnapshot,
  BoardSource,
  BreakerState,
} from './board-source.interface';
import { BOARD_OPTIONS, type ResolvedBoardOptions } from './event-board-options';
import { EventBoardRecorder, payloadText } from './event-board.recorder';
import {
  attachBoardObserver,
  driverName,
  listBusListeners,
  listenedEventNames,
  consumerGroupsOf,
  type BusObservation,
} from './bus-internals.adapter';

/** Errors the board lists (the bus keeps up to `maxErrors`). */
const LATEST_ERRORS = 100;

/** The board's view of this app's bus: public API, `DeadLetterService`, and the internals adapter. */
@Injectable()
export class BusBoardSource implements BoardSource, OnModuleDestroy {
  private readonly watchers = new Set<() => void>();
  private observation: BusObservation | undefined;
  private watchingSince: number | undefined;

  constructor(
    private readonly runtime: BusRuntime,
    private readonly deadLetterService: DeadLetterService,
    private readonly recorder: EventBoardRecorder,
    @Inject(BOARD_OPTIONS) private readonly options: ResolvedBoardOptions,
  ) {}

  snapshot(): BoardSnapshot {
    this.observation?.refresh();
    const now = Date.now();
    const listeners: BoardListener[] = listBusListeners(this.runtime).map((l) => {
      const tally = this.recorder.tallyOf(l.event, l.name);
      return {
        event: l.event,
        name: l.name,
        mode: l.async ? 'async' : 'sync',
        policies: describePolicies(l.options),
        breaker: l.options.breaker === undefined ? undefined : breakerState(l.options, tally, now),
        calls: tally?.calls ?? 0,
        failures: tally?.failures ?? 0,
        meanMs: tally === undefined || tally.calls === 0 ? undefined : round(tally.totalMs / tally.calls),
      };
    });
    return {
      driver: driverName(this.runtime),
      busId: this.runtime.busId,
      stats: this.runtime.telemetry.stats(),
      listeners,
      watchingSince: this.watchingSince,
      unlistedEvents: this.recorder.unlisted,
    };
  }

  latestEvents(): BoardEvent[] {
    return this.recorder.latestEvents().map((e) => ({
      seq: e.seq,
      name: e.name,
      handleId: e.handleId,
      at: e.at,
      durationMs: e.durationMs,
      outcome: e.outcome,
      errors: e.errors,
      ...(this.options.showPayloads && e.payload !== undefined ? { payload: e.payload } : {}),
      ...(e.traceId !== undefined ? { traceId: e.traceId } : {}),
      ...(e.remote !== undefined ? { remoteOutcomes: e.remote.slice() } : {}),
      ...(e.remoteMore > 0 ? { remoteOutcomesNotListed: e.remoteMore } : {}),
    }));
  }

  latestErrors(): BoardError[] {
    return this.runtime.telemetry
      .errors()
      .slice(-LATEST_ERRORS)
      .reverse()
      .map((error) => ({
        eventName: error.eventName,
        listener: error.listener,
        handleId: error.handleId,
        message: error.message,
        cause: causeName(error.cause),
        at: this.recorder.timeOf(error),
      }));
  }

  knownEvents(): string[] {
    return listenedEventNames(this.runtime);
  }

  async consumerGroups(): Promise<BoardConsumerGroup[] | undefined> {
    const inspector = consumerGroupsOf(this.runtime);
    if (inspector === undefined) return undefined;
    const ours = inspector.serviceGroup === undefined ? undefined : `${inspector.serviceGroup}:`;
    return (await inspector.groups(this.knownEvents())).map((info) => ({
      event: info.eventName,
      stream: info.stream,
      group: info.group,
      lag: info.lag ?? undefined,
      pending: info.pending,
      consumers: info.consumers,
      ours: ours !== undefined && info.group.startsWith(ours),
    }));
  }

  async deadLetters(perEvent: number): Promise<BoardDeadLetters[] | undefined> {
    if (consumerGroupsOf(this.runtime) === undefined) return undefined;
    const out: BoardDeadLetters[] = [];
    for (const event of this.knownEvents()) {
      const [count, items] = await Promise.all([
        this.deadLetterService.count(event),
        this.deadLetterService.list(event, { count: perEvent }),
      ]);
      out.push({
        event,
        count,
        items: items.map((d) => ({
          id: d.id,
          eventId: d.eventId,
          listener: d.listener,
          attempts: d.attempts,
          error: d.error,
          failedAt: d.failedAt.getTime(),
          ...(d.reason !== undefined ? { reason: d.reason } : {}),
          ...(this.options.showPayloads ? { payload: payloadText(d.envelope) } : {}),
        })),
      });
    }
    return out;
  }

  replayDeadLetter(eventName: string, id: string): Promise<void> {
    return this.deadLetterService.replay(eventName, id);
  }

  deleteDeadLetter(eventName: string, id: string): Promise<boolean> {
    return this.deadLetterService.delete(eventName, id);
  }

  watch(onChange: () => void): () => void {
    this.watchers.add(onChange);
    if (this.observation === undefined) {
      this.recorder.onChange(() => {
        for (const watcher of this.watchers) watcher();
      });
      this.observation = attachBoardObserver(this.runtime, this.recorder);
      this.watchingSince ??= Date.now();
    }
    return () => {
      this.watchers.delete(onChange);
      if (this.watchers.size === 0) this.stopWatching();
    };
  }

  onModuleDestroy(): void {
    this.watchers.clear();
    this.stopWatching();
  }

  private stopWatching(): void {
    this.observation?.detach();
    this.observation = undefined;
    this.recorder.onChange(undefined);
  }
}

/** The listener's policies in a few words each. */
export function describePolicies(options: ListenerOptions): string[] {
  const out: string[] = [];
  if (options.retry !== undefined && options.retry.attempts > 1) out.push(`retry ${options.retry.attempts}×`);
  if (options.breaker !== undefined) out.push(`breaker ${options.breaker.threshold} / ${options.breaker.cooldownMs} ms`);
  if (options.concurrency !== undefined) out.push(`concurrency ${options.concurrency}`);
  if (options.maxQueue !== undefined) out.push(`queue ${options.maxQueue} (${options.overflow ?? 'reject'})`);
  if (options.timeoutMs !== undefined) out.push(`timeout ${options.timeoutMs} ms`);
  if (options.filter !== undefined) out.push('filter');
  return out;
}

/**
 * The breaker's state as the calls the board saw imply it (the breaker itself is not readable from
 * outside its pipeline): open after `threshold` consecutive failures or a refused call, until
 * `cooldownMs` has passed since the last failure, then half-open until a call succeeds.
 */
function breakerState(options: ListenerOptions, tally: ReturnType<EventBoardRecorder['tallyOf']>, now: number): BreakerState {
  const breaker = options.breaker!;
  if (tally === undefined) return 'closed';
  if (!tally.refusedByBreaker && tally.consecutiveFailures < breaker.threshold) return 'closed';
  return now - tally.lastFailureAt < breaker.cooldownMs ? 'open' : 'half-open';
}

function causeName(cause: unknown): string {
  if (cause instanceof Error) return cause.name === 'Error' ? (cause.constructor?.name ?? 'Error') : cause.name;
  return typeof cause;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
