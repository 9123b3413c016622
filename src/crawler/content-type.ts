// Deciding from a response's Content-Type (or, without one, its first bytes) whether it is an HTML page to read
// links from, and which charset to decode it with.

/**
 * Whether a response is worth parsing for links. A missing Content-Type is sniffed from the first bytes of the
 * body (WHATWG MIME sniffing's HTML signatures) when given; a declared one is trusted, as browsers with nosniff do.
 */
export function isHtmlContentType(contentType?: string, bodyStart?: Buffer | string): boolean {
  if (contentType !== undefined && contentType.trim() !== '') {
    const semi = contentType.indexOf(';');
    const mime = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
    return mime === 'text/html' || mime === 'application/xhtml+xml';
  }
  return bodyStart !== undefined && sniffHtml(bodyStart);
}

const HTML_SIGNATURE =
  /^(?:\uFEFF|\xEF\xBB\xBF)?[\t\n\f\r ]*<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|title|b|body|br|p|!--)[ >]/i;

function sniffHtml(body: Buffer | string): boolean {
  const start = typeof body === 'string' ? body.slice(0, 512) : body.subarray(0, 512).toString('latin1');
  return HTML_SIGNATURE.test(start);
}

const CHARSETS: Record<string, BufferEncoding> = {
  'utf-8': 'utf8',
  utf8: 'utf8',
  'iso-8859-1': 'latin1',
  'us-ascii': 'latin1',
  'windows-1252': 'latin1',
  latin1: 'latin1',
  'utf-16le': 'utf16le',
};

/**
 * The Buffer encoding for a Content-Type's charset parameter, defaulting to utf8. windows-1252 is read as
 * latin1: they differ only in 0x80–0x9F, which never occur in the ASCII of URLs.
 */
export function charsetEncoding(contentType: string | undefined): BufferEncoding {
  const match = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(contentType ?? '');
  return (match && CHARSETS[match[1]!.toLowerCase()]) || 'utf8';
}
