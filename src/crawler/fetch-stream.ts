// A streamed GET for robots.txt and sitemaps: the same pool, timeouts, redirects and SSRF guard as fetchUrl,
// but the decoded body is handed over as it arrives, and a body over the cap is cut off rather than failed,
// since both formats say "read this much and ignore the rest".
import { type Duplex, pipeline, type Readable } from 'node:stream';
import { decodersFor } from './decompress.ts';
import { openExchange } from './fetch-exchange.ts';
import { streamSettings } from './fetch-settings.ts';
import type { OpenedUrl, OpenUrl } from './robots.ts';
import type { FetchOptions } from './types.ts';

export interface OpenStreamOptions extends Omit<FetchOptions, 'method' | 'readBody' | 'maxBodyBytes'> {
  /** Decoded bytes to read at most; see openUrlStream. */
  maxBytes: number;
}

/**
 * GET `url` and stream its Content-Encoding-decoded body. Past `maxBytes` decoded bytes reading stops and the
 * connection is dropped; the stream then ends after maxBytes + 1 bytes, the one extra byte telling a reader
 * that the body was cut (robots.txt drops a cut last line). Stopping iteration early, or aborting `signal`,
 * also drops the connection. The caller must do one or the other (or read to the end).
 */
export async function openUrlStream(url: string, options: OpenStreamOptions): Promise<OpenedUrl> {
  const ex = await openExchange(url, options, streamSettings(options));
  // A body abandoned unread (non-2xx answer, caller aborted) is destroyed with an error nobody listens for.
  ex.res.body.on('error', () => {});
  const onAbort = () => {
    ex.res.body.destroy();
    ex.close();
  };
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  async function* body(): AsyncGenerator<Uint8Array> {
    const decoders = decodersFor(ex.res.headers['content-encoding']);
    // Errors surface through iterating the last stream, which pipeline destroys with them.
    const decoded: Readable | Duplex =
      decoders.length === 0 ? ex.res.body : (pipeline([ex.res.body, ...decoders], () => {}) as Duplex);
    const limit = options.maxBytes + 1;
    let seen = 0;
    try {
      for await (const chunk of decoded as AsyncIterable<Buffer>) {
        if (seen + chunk.length >= limit) {
          yield chunk.subarray(0, limit - seen);
          return;
        }
        seen += chunk.length;
        yield chunk;
      }
    } catch (err) {
      throw ex.fail(err);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      // Destroying a body that has not ended aborts its request, so the rest is never downloaded.
      ex.res.body.destroy();
      decoded.destroy();
      ex.close();
    }
  }
  return {
    statusCode: ex.res.statusCode,
    finalUrl: ex.url.href,
    contentType: ex.res.headers['content-type'],
    body: body(),
  };
}

/** The OpenUrl robots.ts and sitemap.ts need, on the real fetch. RFC 9309 §2.3.1.2: follow 5 redirects. */
export function createOpenUrl(
  options: Omit<FetchOptions, 'method' | 'readBody' | 'maxBodyBytes'> = {},
): OpenUrl {
  return (url, { maxBytes, signal }) =>
    openUrlStream(url, { maxRedirects: 5, ...options, maxBytes, signal: signal ?? options.signal });
}
