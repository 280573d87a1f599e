import { connect, createServer, type AddressInfo, type Socket } from 'node:net';

/**
 * A TCP proxy to Redis that can swallow everything on one of the driver's connections, found by
 * its CLIENT SETNAME (`connectionName`, the streams command connection by default): what is
 * written on it is never answered, as on a half-open socket. `dropCommand()` then drops it, as a
 * Redis crash or a network cut does. The connection ioredis opens next passes.
 */
export async function freezingProxy(
  targetPort: number,
  connectionName = 'nestjs-event-bus:streams',
): Promise<{ port: number; freezeCommand(): void; dropCommand(): void; close(): Promise<void> }> {
  const links: Array<{ command: boolean; frozen: boolean; sockets: Socket[] }> = [];
  const proxy = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    const link = { command: false, frozen: false, sockets: [client, upstream] };
    links.push(link);
    client.on('data', (data) => {
      if (data.includes(`${connectionName}\r\n`)) link.command = true;
      if (!link.frozen) upstream.write(data);
    });
    upstream.on('data', (data) => {
      if (!link.frozen) client.write(data);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', end);
      socket.on('error', end);
    }
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    port: (proxy.address() as AddressInfo).port,
    freezeCommand: () => {
      for (const link of links) if (link.command) link.frozen = true;
    },
    dropCommand: () => {
      for (const link of links) if (link.command && link.frozen) for (const socket of link.sockets) socket.destroy();
    },
    close: async () => {
      for (const link of links) for (const socket of link.sockets) socket.destroy();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
