// A TCP proxy in front of PostgreSQL, for losing a connection at an exact point of the protocol: it can close
// every connection as soon as it is accepted (a pooler or proxy whose upstream is gone), or stop passing on
// what a client sends from a chosen moment (the server then never sees it).
import net from 'node:net';
import { after } from 'node:test';

export interface TcpProxyOptions {
  /** Close each connection as soon as it is accepted, before a byte is exchanged. */
  closeOnAccept?: boolean;
  /**
   * Called with all a connection's client bytes so far; from the first time it returns true, that connection's
   * client bytes are kept instead of forwarded. `onHold` runs then.
   */
  holdWhen?: (clientBytes: Buffer) => boolean;
  onHold?: () => void;
}

export interface TcpProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Changed at any time; applies to connections accepted (or bytes received) afterwards. */
  options: TcpProxyOptions;
  /** `url` with its host and port replaced by the proxy's. */
  url(url: string): string;
}

export async function startTcpProxy(target: string, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const proxy: TcpProxy = {
    port: 0,
    options,
    get accepted() {
      return accepted;
    },
    url(url) {
      const u = new URL(url);
      u.hostname = '127.0.0.1';
      u.port = String(proxy.port);
      return u.toString();
    },
  };
  const server = net.createServer((client) => {
    accepted++;
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (proxy.options.closeOnAccept) {
      client.end();
      return;
    }
    const upstream = net.connect(Number(port || 5432), hostname);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      client.end();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.end());
    upstream.on('data', (chunk) => client.write(chunk));
    let seen = Buffer.alloc(0);
    let holding = false;
    client.on('data', (chunk) => {
      seen = Buffer.concat([seen, chunk]);
      if (!holding && proxy.options.holdWhen?.(seen)) {
        holding = true;
        proxy.options.onHold?.();
      }
      if (!holding) upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  (proxy as { port: number }).port = (server.address() as net.AddressInfo).port;
  after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return proxy;
}
