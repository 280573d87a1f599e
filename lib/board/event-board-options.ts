import type { CanActivate, Type } from '@nestjs/common';

/** A guard as a function of the request (Express `Request` or Fastify `FastifyRequest`). */
export type BoardGuardFunction = (request: unknown) => boolean | Promise<boolean>;

/** A Nest guard (class, resolved through DI, or instance) or a function of the request. */
export type BoardGuard = CanActivate | Type<CanActivate> | BoardGuardFunction;

export interface EventBoardOptions {
  /** Where the page is served; the JSON API is under `path + '/api'`. Default `/_events`. */
  path?: string;
  /** Who may see the board. Default: only requests from the loopback interface. */
  guard?: BoardGuard;
  /** Hide replay and delete, and refuse them in the API. Default true. */
  readOnly?: boolean;
  /** Show event payloads and dead-letter envelopes (as text, truncated). Default false. */
  showPayloads?: boolean;
}

/** @internal The options after `register()` checked them. */
export interface ResolvedBoardOptions {
  readonly path: string;
  readonly guard: BoardGuard | undefined;
  readonly readOnly: boolean;
  readonly showPayloads: boolean;
}

/** @internal */
export const BOARD_OPTIONS = Symbol('EVENT_BOARD_OPTIONS');

const PATH = /^(\/[A-Za-z0-9._~-]+)+$/;

/** @internal Fails `register()` with a message that names the option and what is allowed. */
export function resolveBoardOptions(options: EventBoardOptions = {}): ResolvedBoardOptions {
  const path = (options.path ?? '/_events').replace(/\/+$/, '');
  if (!PATH.test(path) || path.split('/').some((segment) => /^\.+$/.test(segment))) {
    throw new TypeError(
      `EventBoardModule option 'path' must be an absolute URL path of plain segments such as '/_events' or '/ops/events' (got ${JSON.stringify(options.path)})`,
    );
  }
  for (const flag of ['readOnly', 'showPayloads'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') {
      throw new TypeError(`EventBoardModule option '${flag}' must be true or false (got ${JSON.stringify(options[flag])})`);
    }
  }
  const guard = options.guard;
  if (guard !== undefined && typeof guard !== 'function' && typeof (guard as CanActivate)?.canActivate !== 'function') {
    throw new TypeError(
      "EventBoardModule option 'guard' must be a CanActivate class or instance, or a function (request) => boolean | Promise<boolean>",
    );
  }
  return { path, guard, readOnly: options.readOnly ?? true, showPayloads: options.showPayloads ?? false };
}
