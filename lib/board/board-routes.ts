import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { createAccessCheck, type BoardAccessCheck } from './board-access';
import { loadBoardAssets } from './board-assets';
import { BoardLiveness } from './board-liveness';
import type { BoardSource } from './board-source.interface';
import { BOARD_OPTIONS, type ResolvedBoardOptions } from './event-board-options';

export const BOARD_SOURCE = Symbol('EVENT_BOARD_SOURCE');

/** The header only the board's own page sends with a write (a cross-site form cannot set it). */
export const WRITE_HEADER = 'x-event-board';
/** Dead letters listed per event. */
const DEAD_LETTERS_PER_EVENT = 50;
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

const SECURITY_HEADERS: ReadonlyArray<[string, string]> = [
  [
    'Content-Security-Policy',
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  ],
  ['X-Content-Type-Options', 'nosniff'],
  ['Cache-Control', 'no-store'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Frame-Options', 'DENY'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
];

interface Reply {
  readonly status: number;
  readonly body?: unknown;
  readonly type?: string;
}

type Method = 'get' | 'post' | 'delete';
type Handle = (request: unknown) => Promise<Reply>;

/**
 * Mounts the page and its JSON API on the app's own HTTP adapter (Express or Fastify) when the
 * module starts. Routes go through `HttpAdapterHost` rather than a controller because the path is
 * an option: it is used as given, outside any global prefix or versioning.
 */
@Injectable()
export class EventBoardRoutes implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('EventBoard');
  private liveness: BoardLiveness;

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly moduleRef: ModuleRef,
    @Inject(BOARD_SOURCE) private readonly source: BoardSource,
    @Inject(BOARD_OPTIONS) private readonly options: ResolvedBoardOptions,
  ) {
    this.liveness = new BoardLiveness(source);
  }

  async onModuleInit(): Promise<void> {
    const adapter = this.adapterHost.httpAdapter;
    if (adapter === undefined || adapter === null) {
      this.logger.warn(
        'EventBoardModule is imported in an app without an HTTP server (createApplicationContext or a microservice): no board is mounted',
      );
      return;
    }
    // A guard's getClass() is this class (the board's "controller"), getHandler() the route's handler.
    const access = await createAccessCheck(this.options.guard, this.moduleRef, EventBoardRoutes);
    const assets = loadBoardAssets(this.options.path);
    const base = this.options.path;
    const routes: Array<[Method, string, Handle]> = [
      ['get', base, async () => ({ status: 200, body: assets.html, type: 'text/html; charset=utf-8' })],
      ['get', `${base}/assets/board.css`, async () => ({ status: 200, body: assets.css, type: 'text/css; charset=utf-8' })],
      ['get', `${base}/assets/board.js`, async () => ({ status: 200, body: assets.js, type: 'text/javascript; charset=utf-8' })],
      ['get', `${base}/api/state`, async () => this.state()],
      ['get', `${base}/api/streams`, async () => this.streams()],
      ['post', `${base}/api/dead-letters/replay`, async (request) => this.write(request, 'replay')],
      ['delete', `${base}/api/dead-letters`, async (request) => this.write(request, 'delete')],
    ];
    for (const [method, path, handle] of routes) this.mount(method, path, handle, access);
    this.logger.log(`event board at ${base} (${this.options.readOnly ? 'read-only' : 'replay and delete enabled'})`);
  }

  onModuleDestroy(): void {
    this.liveness.stop();
  }

  private mount(method: Method, path: string, handle: Handle, access: BoardAccessCheck): void {
    const adapter = this.adapterHost.httpAdapter;
    adapter[method](path, async (request: unknown, response: unknown) => {
      let reply: Reply;
      try {
        const decision = await access(request, response, handle);
        reply = decision.allowed ? await handle(request) : { status: decision.status, body: { error: decision.message } };
      } catch (err) {
        this.logger.error(`event board ${method.toUpperCase()} ${path} failed: ${(err as Error)?.message ?? String(err)}`);
        reply = { status: 500, body: { error: 'the event board failed to answer; see the application log' } };
      }
      for (const [name, value] of SECURITY_HEADERS) adapter.setHeader(response, name, value);
      adapter.setHeader(response, 'Content-Type', reply.type ?? 'application/json; charset=utf-8');
      return adapter.reply(response, reply.body, reply.status);
    });
  }

  private state(): Reply {
    const version = this.liveness.touch();
    return {
      status: 200,
      body: {
        version,
        readOnly: this.options.readOnly,
        showPayloads: this.options.showPayloads,
        ...this.source.snapshot(),
        events: this.source.latestEvents(),
        errors: this.source.latestErrors(),
      },
    };
  }

  private async streams(): Promise<Reply> {
    const [groups, deadLetters] = await Promise.all([this.source.consumerGroups(), this.source.deadLetters(DEAD_LETTERS_PER_EVENT)]);
    if (groups === undefined || deadLetters === undefined) return { status: 200, body: { available: false } };
    return { status: 200, body: { available: true, readOnly: this.options.readOnly, groups, deadLetters } };
  }

  private async write(request: unknown, action: 'replay' | 'delete'): Promise<Reply> {
    if (this.options.readOnly) {
      return {
        status: 403,
        body: { error: 'the event board is read-only; register it with readOnly: false to replay or delete dead letters' },
      };
    }
    const headers = (request as { headers?: Record<string, string | string[] | undefined> }).headers ?? {};
    if (headers[WRITE_HEADER] !== '1') {
      return { status: 403, body: { error: `writes need the header '${WRITE_HEADER}: 1' (the board's page sends it)` } };
    }
    // Even if the app answers CORS preflights for every route (app.enableCors()), a browser marks a
    // cross-site request as such: refuse it.
    if (isCrossSite(headers)) return { status: 403, body: { error: 'cross-site writes are refused; use the board page itself' } };
    const url = new URL(this.adapterHost.httpAdapter.getRequestUrl(request) ?? '', 'http://board.invalid');
    const event = url.searchParams.get('event') ?? '';
    const id = url.searchParams.get('id') ?? '';
    if (!STREAM_ID.test(id)) return { status: 400, body: { error: "'id' must be a Redis stream id such as 1767225600000-0" } };
    if (!this.source.knownEvents().includes(event)) {
      return { status: 404, body: { error: "'event' must be the name of an event this app listens to" } };
    }
    if (action === 'delete') {
      const deleted = await this.source.deleteDeadLetter(event, id);
      return deleted ? { status: 204 } : { status: 404, body: { error: 'no such dead letter' } };
    }
    try {
      await this.source.replayDeadLetter(event, id);
    } catch (err) {
      // The dead letter is kept (the listener failed again, or it belongs to another service).
      return { status: 409, body: { error: (err as Error)?.message ?? String(err) } };
    }
    return { status: 204 };
  }
}

/** True when the browser says the request comes from another site (`Sec-Fetch-Site`, or an `Origin` that is not this host). */
export function isCrossSite(headers: Record<string, string | string[] | undefined>): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = headers.origin;
  if (origin === undefined) return false;
  if (typeof origin !== 'string' || origin === 'null') return true;
  try {
    return new URL(origin).host !== headers.host;
  } catch {
    return true;
  }
}
