// The undici connector through which every crawler socket is opened: it dials only addresses the SSRF policy
// allows (checked on the resolved addresses and again on the connected peer, so DNS rebinding cannot slip
// through), bounds DNS + TCP + TLS by one timeout, and records how long each phase took.
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import type { buildConnector } from 'undici';
import { RetryableCrawlError } from './errors.ts';
import { guardedLookup, type Resolver, type SsrfPolicy, socketHost, ssrfBlockedError } from './ssrf.ts';

export interface ConnectionTiming {
  dns: number;
  connect: number;
  tls: number;
}

const ZERO_TIMING: ConnectionTiming = Object.freeze({ dns: 0, connect: 0, tls: 0 });
// Set up by guardedConnector; the first request sent on a socket claims the set-up cost, later ones reuse it.
const socketTimings = new WeakMap<net.Socket, { timing: ConnectionTiming; claimed: boolean }>();

/** Set-up phases for a request sent on `socket`: real figures once, zeros on reuse, undefined if not ours. */
export function claimConnectionTiming(socket: net.Socket): ConnectionTiming | undefined {
  const entry = socketTimings.get(socket);
  if (!entry) return undefined;
  if (entry.claimed) return ZERO_TIMING;
  entry.claimed = true;
  return entry.timing;
}

export interface GuardedConnectorOptions {
  policy: SsrfPolicy;
  resolver: Resolver;
  timeoutMs: number;
}

/**
 * An undici connector that dials only addresses the policy allows, re-checks the peer address once
 * connected, bounds DNS + TCP + TLS by one connect timeout, and records how long each phase took.
 */
export function guardedConnector({
  policy,
  resolver,
  timeoutMs,
}: GuardedConnectorOptions): buildConnector.connector {
  return (opts, callback) => {
    const host = socketHost(opts.hostname);
    // Node skips `lookup` for IP literals, so they are judged here before any packet is sent.
    if (net.isIP(host) !== 0 && !policy.allows(host)) {
      callback(ssrfBlockedError(host, host), null);
      return;
    }
    const https = opts.protocol === 'https:';
    const port = Number(opts.port) || (https ? 443 : 80);
    const started = performance.now();
    let resolvedAt = started;
    let connectedAt = started;
    const lookup = guardedLookup(policy, resolver, () => {
      resolvedAt = performance.now();
    });
    const socket: net.Socket = https
      ? tls.connect({
          host,
          port,
          lookup,
          servername: opts.servername || (net.isIP(host) === 0 ? host : undefined),
          ALPNProtocols: ['http/1.1'],
        })
      : net.connect({ host, port, lookup });

    let settled = false;
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', finish);
      if (err) {
        // Late errors from a socket we gave up on must not become uncaught exceptions.
        socket.on('error', () => {});
        socket.destroy();
        callback(err, null);
        return;
      }
      const now = performance.now();
      const timing = {
        dns: resolvedAt - started,
        connect: connectedAt - resolvedAt,
        tls: https ? now - connectedAt : 0,
      };
      socketTimings.set(socket, { timing, claimed: false });
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 60_000);
      callback(null, socket);
    };
    const timer = setTimeout(
      () =>
        finish(
          new RetryableCrawlError(
            'timeout_connect',
            `Connecting to ${host}:${port} took longer than ${timeoutMs} ms (DNS + TCP + TLS)`,
          ),
        ),
      timeoutMs,
    );
    socket.once('error', finish);
    socket.once('connect', () => {
      connectedAt = performance.now();
      // Belt and braces: whatever path produced this connection, the peer must be an allowed address.
      const remote = socket.remoteAddress;
      if (!remote || !policy.allows(remote)) finish(ssrfBlockedError(host, remote ?? 'unknown'));
      else if (!https) finish(null);
    });
    if (https) socket.once('secureConnect', () => finish(null));
  };
}
