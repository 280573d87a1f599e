import { HttpException, type CanActivate, type ExecutionContext, type Type } from '@nestjs/common';
import type { ModuleRef } from '@nestjs/core';
import { isObservable, lastValueFrom } from 'rxjs';
import type { BoardGuard, BoardGuardFunction } from './event-board-options';

/** True for 127.0.0.0/8, ::1 and their IPv4-mapped IPv6 forms. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined || address === '') return false;
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  if (/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return true;
  return address === '::1' || address === '0:0:0:0:0:0:0:1';
}

interface SocketCarrier {
  socket?: { remoteAddress?: string };
  raw?: { socket?: { remoteAddress?: string } };
}

/** The peer address of the TCP connection (never a header: X-Forwarded-For can be forged). */
export function remoteAddressOf(request: unknown): string | undefined {
  const req = request as SocketCarrier;
  return req.raw?.socket?.remoteAddress ?? req.socket?.remoteAddress;
}

/** Answers "may this request see the board?"; 403 when not. */
export type BoardAccessCheck = (request: unknown, response: unknown, handler: (...args: never[]) => unknown) => Promise<AccessDecision>;

export type AccessDecision = { allowed: true } | { allowed: false; status: number; message: string };

const DENIED_REMOTE: AccessDecision = {
  allowed: false,
  status: 403,
  message: 'the event board answers only loopback requests; pass a guard to EventBoardModule.register() to open it to others',
};
const DENIED_GUARD: AccessDecision = { allowed: false, status: 403, message: 'the event board guard refused this request' };
const ALLOWED: AccessDecision = { allowed: true };

/** The access rule: loopback only without a guard; with one, the guard alone decides. */
export async function createAccessCheck(
  guard: BoardGuard | undefined,
  moduleRef: ModuleRef,
  boardClass: Type<unknown>,
): Promise<BoardAccessCheck> {
  if (guard === undefined) return async (request) => (isLoopbackAddress(remoteAddressOf(request)) ? ALLOWED : DENIED_REMOTE);
  const canActivate = await resolveGuard(guard, moduleRef);
  return async (request, response, handler) => {
    try {
      const verdict = await canActivate(request, response, boardClass, handler);
      return verdict === true ? ALLOWED : DENIED_GUARD;
    } catch (err) {
      // A guard may throw an HttpException (UnauthorizedException, ...) to choose its status.
      if (err instanceof HttpException) return { allowed: false, status: err.getStatus(), message: err.message };
      return DENIED_GUARD;
    }
  };
}

type GuardCall = (
  request: unknown,
  response: unknown,
  boardClass: Type<unknown>,
  handler: (...args: never[]) => unknown,
) => Promise<boolean>;

async function resolveGuard(guard: BoardGuard, moduleRef: ModuleRef): Promise<GuardCall> {
  let instance: CanActivate | undefined;
  if (isGuardClass(guard)) {
    try {
      instance = moduleRef.get(guard, { strict: false });
    } catch {
      // Not a provider anywhere: made here, with its dependencies from the container.
      instance = await moduleRef.create(guard);
    }
  } else if (typeof guard === 'object') {
    instance = guard;
  }
  if (instance !== undefined) {
    const target = instance;
    return async (request, response, boardClass, handler) => {
      const result = target.canActivate(httpContext(request, response, boardClass, handler));
      return (isObservable(result) ? await lastValueFrom(result) : await result) === true;
    };
  }
  const fn = guard as BoardGuardFunction;
  return async (request) => (await fn(request)) === true;
}

function isGuardClass(guard: BoardGuard): guard is Type<CanActivate> {
  return typeof guard === 'function' && typeof (guard.prototype as Partial<CanActivate> | undefined)?.canActivate === 'function';
}

/** The ExecutionContext a Nest guard expects, for an HTTP request to the board. */
function httpContext(
  request: unknown,
  response: unknown,
  boardClass: Type<unknown>,
  handler: (...args: never[]) => unknown,
): ExecutionContext {
  const args = [request, response, undefined];
  const http = { getRequest: <T>() => request as T, getResponse: <T>() => response as T, getNext: <T>() => undefined as T };
  const unsupported = (): never => {
    throw new Error('the event board is served over HTTP only');
  };
  return {
    getType: <T extends string = 'http'>() => 'http' as T,
    getClass: <T>() => boardClass as T,
    getHandler: () => handler as (...a: unknown[]) => unknown,
    getArgs: <T extends unknown[] = unknown[]>() => args as T,
    getArgByIndex: <T>(index: number) => args[index] as T,
    switchToHttp: () => http,
    switchToRpc: unsupported,
    switchToWs: unsupported,
  } as ExecutionContext;
}
