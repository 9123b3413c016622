// Finds the links (and optionally the assets) on one HTML page while the body streams in, so a large page never
// has to be held as one string. htmlparser2 is forgiving: broken markup yields whatever links it can, never throws.
// Hot path: onopentag runs for every tag, so it dispatches on the tag name and touches nothing else.
import { StringDecoder } from 'node:string_decoder';
import { Parser } from 'htmlparser2';
import { parseSrcset, schemeOf } from './link-syntax.ts';
import type {
  AssetKind,
  ExtractedAsset,
  ExtractedLink,
  ExtractedLinks,
  LinkExtractorOptions,
} from './link-types.ts';
import { normaliseUrl, siteKeyOfNormalised, tryNormaliseUrl } from './url.ts';

export type {
  AssetKind,
  ExtractedAsset,
  ExtractedLink,
  ExtractedLinks,
  LinkExtractorOptions,
} from './link-types.ts';

const MAX_INVALID = 100;
const NOFOLLOW = /(?:^|\s)nofollow(?:\s|$)/i;
const WHITESPACE = /\s+/g;

export class LinkExtractor {
  private readonly parser: Parser;
  private readonly decoder: StringDecoder;
  private readonly pageUrl: string;
  private readonly siteKey: string;
  private readonly respectNofollow: boolean;
  private readonly keepQuery: boolean;
  private readonly collectAssets: boolean;
  private readonly maxText: number;
  private base: string;
  private baseSeen = false;
  /** A <base href> moved relative resolution away from the page URL. */
  private baseMoved = false;
  private metaNofollow = false;
  private readonly links = new Map<string, ExtractedLink>();
  private readonly assets = new Map<string, ExtractedAsset>();
  private readonly invalid: ExtractedLinks['invalid'] = [];
  /** href → normalised URL (null: invalid). Menus and footers repeat hrefs, and URL parsing is the main cost. */
  private readonly resolved = new Map<string, string | null>();
  /** The link whose anchor text is being read, while inside its <a>. */
  private textLink: ExtractedLink | undefined;
  private text = '';
  private result: ExtractedLinks | undefined;

  /** `pageUrl` is the URL the body came from: the final one after redirects. */
  constructor(pageUrl: string, opts: LinkExtractorOptions = {}) {
    this.keepQuery = opts.keepQuery ?? true;
    this.pageUrl = normaliseUrl(pageUrl, undefined, { keepQuery: this.keepQuery });
    this.base = pageUrl;
    this.siteKey = siteKeyOfNormalised(normaliseUrl(opts.siteUrl ?? pageUrl));
    this.respectNofollow = opts.respectNofollow ?? true;
    this.collectAssets = opts.collectAssets ?? false;
    this.maxText = opts.maxTextLength ?? 100;
    this.decoder = new StringDecoder(opts.encoding ?? 'utf8');
    this.parser = new Parser({
      onopentag: (name, attribs) => this.onOpenTag(name, attribs),
      ontext: (data) => {
        if (this.textLink !== undefined && this.text.length < this.maxText * 4) this.text += data;
      },
      onclosetag: (name) => {
        if (name === 'a') this.finishText();
      },
    });
  }

  write(chunk: Buffer | string): void {
    if (this.result !== undefined) throw new Error('LinkExtractor.write() after end()');
    this.parser.write(typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
  }

  end(): ExtractedLinks {
    if (this.result !== undefined) return this.result;
    this.parser.end(this.decoder.end());
    this.finishText();
    let links = [...this.links.values()];
    if (this.metaNofollow) {
      if (this.respectNofollow) links = [];
      else for (const link of links) link.nofollow = true;
    }
    this.result = {
      pageUrl: this.pageUrl,
      baseUrl: this.base,
      links,
      assets: [...this.assets.values()],
      invalid: this.invalid,
      metaNofollow: this.metaNofollow,
    };
    return this.result;
  }

  private onOpenTag(name: string, attribs: Record<string, string>): void {
    switch (name) {
      case 'a':
        this.finishText(); // an unclosed <a> before this one
        this.addLink(attribs.href ?? attribs['xlink:href'], attribs.rel, true);
        return;
      case 'area':
        this.addLink(attribs.href, attribs.rel, false);
        return;
      case 'base':
        if (!this.baseSeen && attribs.href !== undefined) this.setBase(attribs.href);
        return;
      case 'meta':
        if (attribs.name?.toLowerCase() === 'robots') {
          const content = attribs.content?.toLowerCase() ?? '';
          if (content.includes('nofollow') || content.includes('none')) this.metaNofollow = true;
        }
        return;
      case 'img':
        if (this.textLink !== undefined && attribs.alt) this.text += ` ${attribs.alt} `;
        if (this.collectAssets) this.addAssets(attribs.src, attribs.srcset, 'image');
        return;
    }
    if (!this.collectAssets) return;
    switch (name) {
      case 'script':
        this.addAsset(attribs.src, 'script');
        return;
      case 'link':
        this.addLinkTagAsset(attribs.rel, attribs.href);
        return;
      case 'source':
        this.addAssets(attribs.src, attribs.srcset, attribs.srcset === undefined ? 'media' : 'image');
        return;
      case 'video':
        this.addAsset(attribs.poster, 'image');
        this.addAsset(attribs.src, 'media');
        return;
      case 'audio':
      case 'track':
        this.addAsset(attribs.src, 'media');
        return;
    }
  }

  // Only the first <base href> counts (HTML spec); it applies to links after it, which in practice is all of
  // them since <base> belongs in <head>.
  private setBase(href: string): void {
    this.baseSeen = true;
    try {
      const url = new URL(href.trim(), this.base);
      if (url.protocol === 'http:' || url.protocol === 'https:') {
        this.base = url.href;
        this.baseMoved = true;
        this.resolved.clear();
      }
    } catch {
      // An unparsable base falls back to the document URL, as browsers do.
    }
  }

  private addLink(href: string | undefined, rel: string | undefined, readsText: boolean): void {
    const nofollow = rel !== undefined && NOFOLLOW.test(rel);
    if (nofollow && this.respectNofollow) return;
    const url = this.resolve(href);
    if (url === undefined || url === this.pageUrl) return;
    let link = this.links.get(url);
    if (link === undefined) {
      link = { url, foundOn: this.pageUrl, internal: siteKeyOfNormalised(url) === this.siteKey };
      if (nofollow) link.nofollow = true;
      this.links.set(url, link);
    } else if (link.nofollow && !nofollow) {
      // Followed from anywhere on the page means followed.
      delete link.nofollow;
    }
    if (readsText && this.maxText > 0 && link.text === undefined) {
      this.textLink = link;
      this.text = '';
    }
  }

  private finishText(): void {
    const link = this.textLink;
    if (link === undefined) return;
    this.textLink = undefined;
    const text = this.text.replace(WHITESPACE, ' ').trim();
    if (text !== '') link.text = text.length > this.maxText ? text.slice(0, this.maxText).trimEnd() : text;
  }

  private addLinkTagAsset(rel: string | undefined, href: string | undefined): void {
    if (rel === undefined || href === undefined) return;
    const tokens = rel.toLowerCase().split(WHITESPACE);
    let kind: AssetKind | undefined;
    if (tokens.includes('stylesheet')) kind = 'stylesheet';
    else if (tokens.includes('icon') || tokens.includes('apple-touch-icon') || tokens.includes('mask-icon')) {
      kind = 'icon';
    } else if (tokens.includes('preload') || tokens.includes('modulepreload')) kind = 'preload';
    else if (tokens.includes('manifest')) kind = 'manifest';
    if (kind !== undefined) this.addAsset(href, kind);
  }

  private addAssets(src: string | undefined, srcset: string | undefined, kind: AssetKind): void {
    this.addAsset(src, kind);
    if (srcset !== undefined) for (const candidate of parseSrcset(srcset)) this.addAsset(candidate, kind);
  }

  private addAsset(href: string | undefined, kind: AssetKind): void {
    const url = this.resolve(href);
    if (url === undefined || this.assets.has(url)) return;
    this.assets.set(url, {
      url,
      foundOn: this.pageUrl,
      internal: siteKeyOfNormalised(url) === this.siteKey,
      kind,
    });
  }

  /** Normalised http(s) URL, or undefined for empty, fragment-only, other-scheme and invalid hrefs. */
  private resolve(raw: string | undefined): string | undefined {
    if (raw === undefined) return undefined;
    const href = raw.trim();
    // Fragment-only and empty hrefs point at the page itself unless a <base> moved the base elsewhere.
    if (href === '' || (href.charCodeAt(0) === 0x23 /* # */ && !this.baseMoved)) return undefined;
    const scheme = schemeOf(href);
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') return undefined;
    const cached = this.resolved.get(href);
    if (cached !== undefined) return cached === null ? undefined : cached;
    const result = tryNormaliseUrl(href, this.base, { keepQuery: this.keepQuery });
    this.resolved.set(href, result.ok ? result.url : null);
    if (result.ok) return result.url;
    if (this.invalid.length < MAX_INVALID) {
      this.invalid.push({ href: href.slice(0, 300), reason: result.reason });
    }
    return undefined;
  }
}

/** One-shot form of LinkExtractor for a body already in memory. */
export function extractLinks(
  html: string | Buffer,
  pageUrl: string,
  opts?: LinkExtractorOptions,
): ExtractedLinks {
  const extractor = new LinkExtractor(pageUrl, opts);
  extractor.write(html);
  return extractor.end();
}
