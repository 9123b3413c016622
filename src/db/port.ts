import net from 'node:net';
import { DbSetupError } from './errors.ts';

export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A fixed port must be free; otherwise prefer `preferred` and fall back to any free port. */
export async function choosePort(fixed: number | undefined, preferred: number): Promise<number> {
  if (fixed !== undefined) {
    if (await isPortFree(fixed)) return fixed;
    throw new DbSetupError(
      `Port ${fixed} (BBB_PG_PORT) is already in use by another process. ` +
        'Stop that process, choose another port, or unset BBB_PG_PORT to let bbb pick a free one.',
    );
  }
  return (await isPortFree(preferred)) ? preferred : freePort();
}
