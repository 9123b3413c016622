// Streams one sitemap file (sitemaps.org XML, gzipped or not) from bytes to items, never holding the whole
// document: bytes are decoded and fed to saxes chunk by chunk, and each chunk's items are yielded (as one
// batch, which keeps per-item async overhead off 50,000-entry files) before the next chunk is read, so a
// consumer that stops early stops the download too.

import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { SaxesParser } from 'saxes';
import { errorMessage } from '../errors.ts';

export type SitemapItem =
  | { kind: 'url'; loc: string; lastmod?: Date; priority?: number }
  | { kind: 'sitemap'; loc: string; lastmod?: Date };

export interface SitemapParseLimits {
  /** <url> or <sitemap> entries per file (sitemaps.org: 50,000). */
  maxItems: number;
  /** Decompressed bytes per file (sitemaps.org: 50 MB). */
  maxBytes: number;
}

/** The file is not a well-formed sitemap. Items yielded before it was thrown were well-formed. */
export class SitemapParseError extends Error {
  override name = 'SitemapParseError';
}

type Field = 'loc' | 'lastmod' | 'priority';
const FIELDS = new Set<string>(['loc', 'lastmod', 'priority']);
// sitemaps.org caps <loc> at 2,048 characters. Past this a field is discarded rather than truncated, since
// a cut URL is still a valid-looking URL, just the wrong one.
const MAX_FIELD_CHARS = 4096;

/**
 * Yields the file's entries in document order, in batches. Stops (with a warning, not an error) at either
 * limit; throws SitemapParseError for malformed XML, bad gzip data, or a root that is neither <urlset> nor
 * <sitemapindex>. An entry whose <loc> is empty or overlong comes out with loc '' for the caller to drop.
 */
export async function* parseSitemap(
  body: AsyncIterable<Uint8Array>,
  limits: SitemapParseLimits,
  onWarning: (message: string) => void,
): AsyncGenerator<SitemapItem[]> {
  // Namespace processing is off: prefixed (<sm:urlset>) and undeclared-prefix extensions (<image:loc> without
  // xmlns:image, common in the wild) must not fail the file. Elements are matched by local name and position.
  const parser = new SaxesParser({ position: true });
  const stack: string[] = [];
  let ready: SitemapItem[] = [];
  let root: 'urlset' | 'sitemapindex' | undefined;
  let entry: Partial<Record<Field, string>> | undefined;
  let field: Field | undefined;
  let text = '';
  let overlong = false;
  let count = 0;

  parser.on('opentag', (tag) => {
    const name = localName(tag.name);
    const depth = stack.push(name) - 1;
    if (depth === 0) {
      if (name !== 'urlset' && name !== 'sitemapindex') {
        throw new SitemapParseError(`root element is <${tag.name}>, not <urlset> or <sitemapindex>`);
      }
      root = name;
    } else if (depth === 1 && name === (root === 'urlset' ? 'url' : 'sitemap')) {
      entry = {};
    } else if (depth === 2 && entry && FIELDS.has(name)) {
      field = name as Field;
      text = '';
      overlong = false;
    }
  });
  const onText = (chunk: string) => {
    if (!field) return;
    if (text.length + chunk.length > MAX_FIELD_CHARS) overlong = true;
    else text += chunk;
  };
  parser.on('text', onText);
  parser.on('cdata', onText);
  parser.on('closetag', () => {
    const depth = stack.length - 1;
    stack.pop();
    if (depth === 2 && entry && field) {
      entry[field] = overlong ? '' : text.trim();
      field = undefined;
    } else if (depth === 1 && entry) {
      if (entry.loc !== undefined && count++ < limits.maxItems) {
        ready.push(toItem(root === 'urlset' ? 'url' : 'sitemap', entry));
      }
      entry = undefined;
    }
  });

  const decoder = new TextDecoder('utf-8');
  let bytes = 0;
  for await (let chunk of gunzipIfNeeded(body)) {
    let overBytes = false;
    if (bytes + chunk.length > limits.maxBytes) {
      chunk = chunk.subarray(0, limits.maxBytes - bytes);
      overBytes = true;
    }
    bytes += chunk.length;
    const error = feed(() => parser.write(decoder.decode(chunk, { stream: true })));
    // Entries completed before a parse error came from a well-formed prefix: hand them out, then fail.
    if (ready.length > 0) yield ready;
    ready = [];
    if (error) throw error;
    // Strictly greater: a file with exactly maxItems entries is complete, not cut.
    if (count > limits.maxItems) {
      onWarning(`stopped at the ${limits.maxItems}-entry limit per sitemap file`);
      return;
    }
    if (overBytes) {
      onWarning(`stopped at the ${limits.maxBytes}-byte limit per sitemap file (decompressed)`);
      return;
    }
  }
  const error = feed(() => parser.write(decoder.decode()).close());
  if (ready.length > 0) yield ready;
  if (error) throw error;
}

/** saxes reports malformed XML by throwing from write()/close(); this turns that into a returned error. */
function feed(write: () => void): SitemapParseError | undefined {
  try {
    write();
    return undefined;
  } catch (err) {
    if (err instanceof SitemapParseError) return err;
    // saxes messages already carry line:column.
    const message = errorMessage(err);
    return new SitemapParseError(`malformed XML: ${message}`, { cause: err });
  }
}

function localName(qname: string): string {
  return qname.slice(qname.indexOf(':') + 1);
}

function toItem(kind: 'url' | 'sitemap', entry: Partial<Record<Field, string>>): SitemapItem {
  const loc = entry.loc ?? '';
  const lastmod = parseLastmod(entry.lastmod);
  if (kind === 'sitemap') return { kind, loc, ...(lastmod && { lastmod }) };
  const priority = entry.priority ? Number(entry.priority) : Number.NaN;
  const valid = priority >= 0 && priority <= 1;
  return { kind, loc, ...(lastmod && { lastmod }), ...(valid && { priority }) };
}

// W3C Datetime as sitemaps.org allows it: YYYY, YYYY-MM, YYYY-MM-DD, or a date-time with minutes, optional
// seconds/fraction and a zone. A date-time without a zone is read as UTC so results do not depend on the host.
const W3C_DATETIME = /^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?)?)?$/;

function parseLastmod(value: string | undefined): Date | undefined {
  if (!value || !W3C_DATETIME.test(value)) return undefined;
  let iso = value;
  if (iso.includes('T')) {
    iso = iso.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
    if (!/(Z|[+-]\d{2}:\d{2})$/.test(iso)) iso += 'Z';
  }
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Gunzips when the body starts with the gzip magic bytes, whatever the URL or content type says. */
async function* gunzipIfNeeded(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const source = body[Symbol.asyncIterator]();
  try {
    let head: Uint8Array = new Uint8Array(0);
    while (head.length < 2) {
      const next = await source.next();
      if (next.done) break;
      head = head.length === 0 ? next.value : Buffer.concat([head, next.value]);
    }
    const rest = (async function* () {
      if (head.length > 0) yield head;
      for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
    })();
    if (head[0] !== 0x1f || head[1] !== 0x8b) {
      yield* rest;
      return;
    }
    const gunzip = createGunzip();
    // Errors reach us through the gunzip iterator; pipeline only needs to tear both ends down together.
    pipeline(rest, gunzip, () => {});
    try {
      yield* gunzip;
    } catch (err) {
      // zlib's own errors (codes Z_*) mean bad data; anything else (a network error, an abort) passes through.
      const code = (err as { code?: unknown }).code;
      if (typeof code !== 'string' || !code.startsWith('Z_')) throw err;
      throw new SitemapParseError(`invalid gzip data: ${errorMessage(err)}`, { cause: err });
    }
  } finally {
    // Not awaited: with gzip, pipeline may be waiting inside source.next() for a read-ahead chunk, and an async
    // iterator's return() queues behind that. The caller aborts the request, which settles it.
    source.return?.().catch(() => {});
  }
}
