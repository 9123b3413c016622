// Reads a response body without ever holding more than the cap: bytes are counted on the wire and again after
// decoding, and the whole chain (socket included) is torn down the moment either count passes the cap. A gzip
// bomb therefore costs roughly `maxBytes` of inflation, not its full expanded size.
import { Duplex, Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { PermanentCrawlError } from './errors.ts';

export interface ReadBodyOptions {
  maxBytes: number;
  /** false: count and discard (the caller only wants the transfer to happen). */
  keep: boolean;
}

export interface DecodedBody {
  body: Buffer;
  /** Decoded length in bytes. */
  length: number;
}

function tooLarge(maxBytes: number, what: string): PermanentCrawlError {
  return new PermanentCrawlError('too_large', `Response body exceeds the ${maxBytes}-byte cap (${what})`);
}

// RFC 9110 says "deflate" is zlib-wrapped, but enough servers send raw deflate that browsers sniff the first
// byte (CM = 8 in the low nibble means a zlib header); so do we.
function inflateAuto(): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const it = source[Symbol.asyncIterator]();
    const head = await it.next();
    if (head.done) return;
    const first: Buffer = head.value;
    const inflater =
      (first[0]! & 0x0f) === 0x08 ? zlib.createInflate(lenientZlib) : zlib.createInflateRaw(lenientZlib);
    const input = Readable.from(
      (async function* () {
        yield first;
        for (let next = await it.next(); !next.done; next = await it.next()) yield next.value as Buffer;
      })(),
    );
    // pipe() does not forward errors; forwarding them makes both sides surface through iterating `inflater`.
    input.on('error', (err) => inflater.destroy(err));
    try {
      yield* input.pipe(inflater);
    } finally {
      input.destroy();
      inflater.destroy();
    }
  });
}

// Truncated compressed bodies are decoded as far as they go, as browsers do, instead of failing outright.
const lenientZlib = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

function decoderFor(coding: string): Duplex | null | undefined {
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip(lenientZlib);
    case 'deflate':
      return inflateAuto();
    case 'br':
      return zlib.createBrotliDecompress({ finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
    case 'identity':
    case '':
      return null;
    default:
      return undefined;
  }
}

/**
 * Decoders for a Content-Encoding value, outermost coding last in the header so first in the chain.
 * An encoding we cannot decode yields no decoders at all: the raw bytes are returned rather than half-decoded.
 */
export function decodersFor(contentEncoding: string | undefined): Duplex[] {
  const codings = (contentEncoding ?? '')
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .reverse();
  const decoders: Duplex[] = [];
  for (const coding of codings) {
    const decoder = decoderFor(coding);
    if (decoder === undefined) {
      for (const d of decoders) d.destroy();
      return [];
    }
    if (decoder) decoders.push(decoder);
  }
  return decoders;
}

function wireCap(maxBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(tooLarge(maxBytes, 'on the wire'));
      else callback(null, chunk);
    },
  });
}

export async function readBody(
  raw: Readable,
  contentEncoding: string | undefined,
  { maxBytes, keep }: ReadBodyOptions,
): Promise<DecodedBody> {
  const decoders = decodersFor(contentEncoding);
  const decoding: { error?: Error } = {};
  for (const d of decoders) d.once('error', (err) => (decoding.error ??= err));
  const chunks: Buffer[] = [];
  let length = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      length += chunk.length;
      if (length > maxBytes) return callback(tooLarge(maxBytes, 'after decompression'));
      if (keep) chunks.push(chunk);
      callback();
    },
  });
  try {
    await pipeline([raw, wireCap(maxBytes), ...decoders, sink]);
  } catch (err) {
    // A decoder that failed on its own (not because the chain was torn down) means a corrupt body.
    const failure = decoding.error;
    if (failure && err === failure && !(err instanceof PermanentCrawlError)) {
      const message = `Could not decode ${contentEncoding} body: ${failure.message}`;
      throw new PermanentCrawlError('malformed_response', message, { cause: err });
    }
    throw err;
  }
  return { body: keep ? Buffer.concat(chunks, length) : Buffer.alloc(0), length };
}

/** Reads and drops a small body so the socket can be reused; a body over `limit` is cut off with the socket. */
export async function discardBody(raw: Readable, limit: number): Promise<void> {
  let seen = 0;
  for await (const chunk of raw) {
    seen += (chunk as Buffer).length;
    if (seen > limit) {
      raw.destroy();
      return;
    }
  }
}
