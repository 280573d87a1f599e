import type { Socket } from 'node:net';

/**
 * Drops a connection with a TCP reset rather than a FIN: a graceful close would still send what
 * waits in the socket's send buffer (a healing network would then deliver a command already
 * reported failed); a reset discards it. ioredis sees the close and reconnects.
 */
export function resetSocket(socket: Socket): void {
  try {
    if (typeof socket.resetAndDestroy === 'function') {
      socket.resetAndDestroy();
      return;
    }
  } catch {
    // Not a plain TCP socket (TLS): destroy it instead.
  }
  socket.destroy();
}
