// One request/response on the wire as an undici dispatch handler: precise headers/body timeouts, a pausable body
// stream, and the connection set-up timing of the socket the request went out on.
import diagnosticsChannel from 'node:diagnostics_channel';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { RetryableCrawlError } from './errors.ts';
import { type ConnectionTiming, claimConnectionTiming } from './ssrf-connector.ts';

export interface HopResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: Readable;
  headersAt: number;
}

// undici publishes sendHeaders (with the socket) synchronously right after calling onRequestStart on the same
// request, so the hop that just started is the one being written: that is how a request learns its socket.
let startingHop: HopHandler | undefined;
diagnosticsChannel.subscribe('undici:client:sendHeaders', (message) => {
  const hop = startingHop;
  startingHop = undefined;
  const socket = (message as { socket?: net.Socket }).socket;
  if (!hop || !socket) return;
  const timing = claimConnectionTiming(socket);
  if (timing) hop.connection = timing;
});

interface HopLimits {
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

// The headers and body timeouts are kept here rather than left to undici, whose timers for these are coarse
// (about a second of slack), so a short timeout fires when it says.
export class HopHandler implements Dispatcher.DispatchHandler {
  connection: ConnectionTiming = { dns: 0, connect: 0, tls: 0 };
  readonly response: Promise<HopResponse>;
  private controller: Dispatcher.DispatchController | undefined;
  private body: Readable | undefined;
  private ended = false;
  private failure: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private resolve!: (response: HopResponse) => void;
  private reject!: (err: Error) => void;

  constructor(private readonly limits: HopLimits) {
    this.response = new Promise<HopResponse>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    // The caller may abandon the promise (e.g. on total timeout); the rejection is still delivered to it.
    this.response.catch(() => {});
  }

  abort(reason: Error): void {
    this.failure ??= reason;
    clearTimeout(this.timer);
    if (this.controller && !this.controller.aborted) this.controller.abort(reason);
    this.reject(reason);
    this.body?.destroy(reason);
  }

  private arm(phase: 'headers' | 'body'): void {
    clearTimeout(this.timer);
    const ms = phase === 'headers' ? this.limits.headersTimeoutMs : this.limits.bodyTimeoutMs;
    const what = phase === 'headers' ? 'for response headers' : 'between body chunks';
    this.timer = setTimeout(
      () => this.abort(new RetryableCrawlError(`timeout_${phase}`, `Waited more than ${ms} ms ${what}`)),
      ms,
    );
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.failure) {
      controller.abort(this.failure);
      return;
    }
    startingHop = this;
    this.arm('headers');
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx interim responses carry no final headers
    const headersAt = performance.now();
    this.arm('body');
    this.body = new Readable({
      read: () => {
        this.timer?.refresh();
        controller.resume();
      },
      destroy: (err, callback) => {
        clearTimeout(this.timer);
        // Dropping the body early (cap hit, redirect body too big) must close the socket, not keep reading.
        if (!this.ended && !controller.aborted) controller.abort(err ?? new Error('response body discarded'));
        callback(err);
      },
    });
    this.resolve({ statusCode, headers: flattenHeaders(headers), body: this.body, headersAt });
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.timer?.refresh();
    if (this.body && !this.body.push(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.body?.push(null);
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    this.failure ??= err;
    clearTimeout(this.timer);
    if (this.body) this.body.destroy(err);
    else this.reject(err);
  }
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}
