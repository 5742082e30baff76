/**
 * One TCP connect, to tell a server that listens from one that does not before a client's own,
 * slower deadline (the SDK's, the driver's) would: the Temporal connection's look at several
 * frontends, and the external watch's probes. And the `HOST:PORT` split they and the services share.
 */
import net from 'node:net';

/** Null when `host:port` accepts a TCP connection within `timeoutMs`, else why not. */
export function tcpRefusal(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: timeoutMs });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(`no TCP answer within ${timeoutMs} ms`);
    });
    socket.once('error', (err) => resolve(err.message));
  });
}

/** `HOST:PORT` (or `[IPv6]:PORT`) as its host, brackets dropped, and port. */
export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}
