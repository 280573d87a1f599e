import type { ModuleRef } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import { createAccessCheck, isLoopbackAddress, remoteAddressOf } from '../../../lib/board/board-access';
import { resolveBoardOptions } from '../../../lib/board/event-board-options';

class Board {}
const noModuleRef = {} as ModuleRef;

describe('event board access rule', () => {
  it('loopback is 127.0.0.0/8 and ::1, also IPv4-mapped; nothing else', () => {
    for (const address of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.1']) {
      expect(isLoopbackAddress(address), address).toBe(true);
    }
    for (const address of [
      '10.0.0.1',
      '::ffff:10.0.0.1',
      '192.168.1.20',
      '128.0.0.1',
      '::2',
      'fe80::1',
      '',
      undefined,
      '127.0.0.1.evil',
      '1127.0.0.1',
    ]) {
      expect(isLoopbackAddress(address), String(address)).toBe(false);
    }
  });

  it('reads the socket peer of Express and Fastify requests, never a header', () => {
    expect(remoteAddressOf({ socket: { remoteAddress: '10.0.0.1' }, headers: { 'x-forwarded-for': '127.0.0.1' } })).toBe('10.0.0.1');
    expect(remoteAddressOf({ raw: { socket: { remoteAddress: '::ffff:10.0.0.1' } }, headers: { 'x-real-ip': '127.0.0.1' } })).toBe(
      '::ffff:10.0.0.1',
    );
  });

  it('without a guard refuses a non-loopback peer even when forwarding headers claim loopback', async () => {
    const check = await createAccessCheck(undefined, noModuleRef, Board);
    const handler = (): void => undefined;
    for (const remoteAddress of ['10.0.0.1', '::ffff:10.0.0.1']) {
      const decision = await check(
        { socket: { remoteAddress }, headers: { 'x-forwarded-for': '127.0.0.1', host: 'localhost' } },
        {},
        handler,
      );
      expect(decision).toMatchObject({ allowed: false, status: 403 });
    }
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1']) {
      expect(await check({ socket: { remoteAddress }, headers: {} }, {}, handler)).toEqual({ allowed: true });
    }
  });

  it('with a guard the guard alone decides: a remote peer it accepts is served, a loopback one it refuses is not', async () => {
    const handler = (): void => undefined;
    const byHeader = await createAccessCheck(
      (req) => (req as { headers: Record<string, string> }).headers['x-ok'] === 'yes',
      noModuleRef,
      Board,
    );
    expect(await byHeader({ socket: { remoteAddress: '10.0.0.1' }, headers: { 'x-ok': 'yes' } }, {}, handler)).toEqual({ allowed: true });
    expect(await byHeader({ socket: { remoteAddress: '127.0.0.1' }, headers: {} }, {}, handler)).toMatchObject({
      allowed: false,
      status: 403,
    });
    // A guard that throws is a refusal, not a crash.
    const throwing = await createAccessCheck(
      () => {
        throw new Error('boom');
      },
      noModuleRef,
      Board,
    );
    expect(await throwing({ headers: {} }, {}, handler)).toMatchObject({ allowed: false, status: 403 });
  });

  it('a CanActivate instance gets an HTTP ExecutionContext with the request', async () => {
    let seen: unknown;
    const guard = {
      canActivate(context: import('@nestjs/common').ExecutionContext) {
        seen = context.switchToHttp().getRequest();
        return context.getType() === 'http' && context.getClass() === Board;
      },
    };
    const check = await createAccessCheck(guard, noModuleRef, Board);
    const request = { headers: {} };
    expect(await check(request, {}, () => undefined)).toEqual({ allowed: true });
    expect(seen).toBe(request);
  });

  it('options are checked: path, flags and guard', () => {
    expect(resolveBoardOptions()).toEqual({ path: '/_events', guard: undefined, readOnly: true, showPayloads: false });
    expect(resolveBoardOptions({ path: '/ops/events/' }).path).toBe('/ops/events');
    for (const path of ['', '/', 'events', '/a b', '/<x>', '/a/../b', '/.', '/a"b']) {
      expect(() => resolveBoardOptions({ path }), path).toThrow(/option 'path'/);
    }
    expect(() => resolveBoardOptions({ readOnly: 'no' as unknown as boolean })).toThrow(/option 'readOnly'/);
    expect(() => resolveBoardOptions({ guard: {} as never })).toThrow(/option 'guard'/);
  });
});
