// Small lexical helpers for attribute values the link extractor reads, kept apart so the extractor's hot path
// stays readable and these can be tested on their own.

/** Lowercase scheme when `href` starts with one (`mailto:`), undefined for relative references. */
export function schemeOf(href: string): string | undefined {
  for (let i = 0; i < href.length && i < 32; i++) {
    const c = href.charCodeAt(i);
    const letter = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);
    if (letter) continue;
    if (i === 0) return undefined;
    if (c === 0x3a /* : */) return href.slice(0, i).toLowerCase();
    if ((c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e) continue;
    return undefined;
  }
  return undefined;
}

/** URLs of a srcset, following the HTML spec's split: URL up to whitespace, descriptors up to a comma. */
export function parseSrcset(srcset: string): string[] {
  const urls: string[] = [];
  let i = 0;
  const n = srcset.length;
  while (i < n) {
    while (i < n && (srcset[i] === ',' || srcset[i] === ' ' || srcset[i] === '\t' || srcset[i] === '\n')) i++;
    const start = i;
    while (i < n && srcset[i] !== ' ' && srcset[i] !== '\t' && srcset[i] !== '\n') i++;
    let url = srcset.slice(start, i);
    if (url === '') break;
    if (url.endsWith(',')) {
      url = url.replace(/,+$/, '');
    } else {
      while (i < n && srcset[i] !== ',') i++; // descriptors (`2x`, `640w`)
    }
    if (url !== '') urls.push(url);
  }
  return urls;
}
