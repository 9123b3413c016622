// The body of a streamed response, written under an idle deadline. The stream keeps no buffer of its own: a
// write settles once the client (through the server) has taken the one before it, so a client that takes
// nothing for the deadline fails the write in hand with IdleTimeout, and its connection is cut.
import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';

// Text goes out in slices of this size, so the deadline measures a slow reader's progress, not how long it
// takes to swallow a whole page of rows.
const SLICE_BYTES = 64 * 1024;

export class IdleTimeout extends Error {
  override name = 'IdleTimeout';
}

export class ResponseBody {
  readonly readable: ReadableStream<Uint8Array>;
  /** The client went away, or the response stream was cancelled: nobody reads any more. */
  clientGone = false;
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private readonly encoder = new TextEncoder();
  private readonly goneAway = () => {
    this.clientGone = true;
    this.writer.abort(new Error('the client went away')).catch(() => {});
  };

  constructor(
    private readonly c: Context,
    private readonly idleTimeoutMs: number,
  ) {
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    this.readable = readable;
    this.writer = writable.getWriter();
    c.req.raw.signal.addEventListener('abort', this.goneAway, { once: true });
  }

  /** Writes `text`; rejects with IdleTimeout if the client stops taking it, or if it has gone away. */
  async send(text: string): Promise<void> {
    const bytes = this.encoder.encode(text);
    for (let at = 0; at < bytes.length; at += SLICE_BYTES)
      await this.write(bytes.subarray(at, at + SLICE_BYTES));
  }

  close(): Promise<void> {
    return this.writer.close();
  }

  /**
   * Ends the body mid-way: the client sees it stop without its proper end. Under @hono/node-server (c.env holds
   * the Node response) the socket is destroyed, because a client that stopped reading keeps the server waiting
   * for a 'drain' that never comes, so erroring the stream alone would leave the socket open; destroying it
   * cancels the stream in turn. A response that has already ended is left alone: its socket may be serving the
   * client's next request. In process (app.request), erroring the stream is what the reader sees.
   */
  cut(err: unknown): void {
    const outgoing = (this.c.env as Partial<HttpBindings> | undefined)?.outgoing;
    if (outgoing && !outgoing.writableEnded) outgoing.destroy();
    else this.writer.abort(err).catch(() => {});
  }

  /** Stops listening for the client going away; call it when the body is finished, however it finished. */
  dispose(): void {
    this.c.req.raw.signal.removeEventListener('abort', this.goneAway);
  }

  private write(bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new IdleTimeout()), this.idleTimeoutMs);
      this.writer.write(bytes).then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (err: unknown) => {
          // A write fails only when nobody reads any more (the response stream was cancelled or aborted).
          clearTimeout(timer);
          this.clientGone = true;
          reject(err);
        },
      );
    });
  }
}
