// What the link extractor is asked for and what it finds on one page.

export interface LinkExtractorOptions {
  /** Root of the crawl job; `internal` means same site as this. Defaults to the page URL. */
  siteUrl?: string;
  /** true (default): drop rel=nofollow links (and all links under meta robots nofollow); false: keep them flagged. */
  respectNofollow?: boolean;
  /** false: drop query strings from every URL found. Default true. */
  keepQuery?: boolean;
  /** Also collect images, scripts, stylesheets, icons, preloads and media. Default false. */
  collectAssets?: boolean;
  /** Anchor text kept per link, in characters; 0 keeps none. Default 100. */
  maxTextLength?: number;
  /** Byte encoding of Buffer chunks. Default utf8; the caller picks another from the Content-Type charset. */
  encoding?: BufferEncoding;
}

export interface ExtractedLink {
  url: string;
  foundOn: string;
  internal: boolean;
  /** Present (true) only when kept with respectNofollow: false. */
  nofollow?: boolean;
  text?: string;
}

export type AssetKind = 'image' | 'script' | 'stylesheet' | 'icon' | 'preload' | 'manifest' | 'media';

export interface ExtractedAsset {
  url: string;
  foundOn: string;
  internal: boolean;
  kind: AssetKind;
}

export interface ExtractedLinks {
  /** The page URL, normalised. */
  pageUrl: string;
  /** What relative links were resolved against last (the page URL, or the first <base href>). */
  baseUrl: string;
  links: ExtractedLink[];
  assets: ExtractedAsset[];
  /** hrefs that could not be made into http(s) URLs: candidates for the broken-link report. Capped per page. */
  invalid: Array<{ href: string; reason: string }>;
  /** The page carried <meta name="robots" content="nofollow|none">. */
  metaNofollow: boolean;
}
