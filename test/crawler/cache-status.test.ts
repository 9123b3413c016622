import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normaliseCacheStatus, parseCacheStatusList } from '../../src/crawler/cache-status.ts';
import type { CacheStatus } from '../../src/crawler/types.ts';

interface Case {
  name: string;
  headers: Record<string, string>;
  status: CacheStatus;
  source: string;
}

const html = { 'content-type': 'text/html; charset=utf-8' };

const cloudflare = (status: string, extra: Record<string, string> = {}) => ({
  ...html,
  server: 'cloudflare',
  'cf-ray': '8a1b2c3d4e5f6789-SYD',
  'cf-cache-status': status,
  'cache-control': 'public, max-age=14400',
  ...extra,
});

const fastly = (xCache: string, extra: Record<string, string> = {}) => ({
  ...html,
  via: '1.1 varnish, 1.1 varnish',
  'x-served-by': 'cache-lhr7321-LHR, cache-syd10143-SYD',
  'x-cache': xCache,
  'x-cache-hits': '0, 3',
  'x-timer': 'S1718000000.123456,VS0,VE1',
  'accept-ranges': 'bytes',
  ...extra,
});

const cloudfront = (word: string, extra: Record<string, string> = {}) => ({
  ...html,
  'x-cache': `${word} from cloudfront`,
  via: '1.1 3f8d6a3b1c2e4f5a6b7c8d9e0f1a2b3c.cloudfront.net (CloudFront)',
  'x-amz-cf-pop': 'SYD62-P1',
  'x-amz-cf-id': 'q0vB6m3k9Yx2Lr8Zt1Wc4Ne7Hj5Ua0Sd3Fg6Kp9Qw2Er5Ty8Ui1Op4==',
  ...extra,
});

const akamaiHost = 'a23-52-43-12.deploy.akamaitechnologies.com (AkamaiGHost/11.4.3-54729273) (-)';
const akamai = (edge: string | undefined, remote?: string, extra: Record<string, string> = {}) => ({
  ...html,
  ...(edge ? { 'x-cache': `${edge} from ${akamaiHost}` } : {}),
  ...(remote
    ? {
        'x-cache-remote': `${remote} from a104-86-110-17.deploy.akamaitechnologies.com (AkamaiGHost/11.4.3-54729273) (-)`,
      }
    : {}),
  'x-check-cacheable': 'YES',
  'x-cache-key': 'S/L/1234/567890/1d/www.example.com/index.html',
  'x-akamai-request-id': '1a2b3c.4d5e6f',
  ...extra,
});

const vercel = (status: string) => ({
  ...html,
  server: 'Vercel',
  'x-vercel-cache': status,
  'x-vercel-id': 'syd1::iad1::abcde-1718000000000-0123456789ab',
  'cache-control': 'public, max-age=0, must-revalidate',
  age: '87',
});

const netlify = (cacheStatus: string) => ({
  ...html,
  server: 'Netlify',
  'cache-status': cacheStatus,
  'x-nf-request-id': '01J0ABCDEF0123456789XYZABC',
  'cache-control': 'public,max-age=0,must-revalidate',
});

const cases: Case[] = [
  // Cloudflare
  { name: 'cf HIT', headers: cloudflare('HIT', { age: '1234' }), status: 'HIT', source: 'cf-cache-status' },
  { name: 'cf MISS', headers: cloudflare('MISS'), status: 'MISS', source: 'cf-cache-status' },
  { name: 'cf EXPIRED', headers: cloudflare('EXPIRED'), status: 'EXPIRED', source: 'cf-cache-status' },
  {
    name: 'cf STALE',
    headers: cloudflare('STALE', { age: '20000' }),
    status: 'STALE',
    source: 'cf-cache-status',
  },
  {
    name: 'cf UPDATING',
    headers: cloudflare('UPDATING', { age: '20000' }),
    status: 'STALE',
    source: 'cf-cache-status',
  },
  { name: 'cf BYPASS', headers: cloudflare('BYPASS'), status: 'BYPASS', source: 'cf-cache-status' },
  { name: 'cf DYNAMIC', headers: cloudflare('DYNAMIC'), status: 'DYNAMIC', source: 'cf-cache-status' },
  {
    name: 'cf REVALIDATED',
    headers: cloudflare('REVALIDATED'),
    status: 'REVALIDATED',
    source: 'cf-cache-status',
  },
  { name: 'cf lower case', headers: cloudflare('hit'), status: 'HIT', source: 'cf-cache-status' },
  { name: 'cf NONE, nothing else', headers: cloudflare('NONE'), status: 'UNKNOWN', source: 'none' },
  {
    name: 'cf NONE from a Worker in front of Vercel: Vercel decides',
    headers: { ...vercel('HIT'), ...cloudflare('NONE') },
    status: 'HIT',
    source: 'x-vercel-cache',
  },
  {
    name: 'cf in front of Vercel: Cloudflare decides',
    headers: { ...vercel('HIT'), ...cloudflare('MISS') },
    status: 'MISS',
    source: 'cf-cache-status',
  },
  // Fastly / Varnish
  {
    name: 'fastly shield miss, edge hit',
    headers: fastly('MISS, HIT', { age: '312' }),
    status: 'HIT',
    source: 'x-cache',
  },
  { name: 'fastly shield hit, edge miss', headers: fastly('HIT, MISS'), status: 'MISS', source: 'x-cache' },
  { name: 'fastly miss at both', headers: fastly('MISS, MISS'), status: 'MISS', source: 'x-cache' },
  { name: 'fastly pass', headers: fastly('PASS, PASS'), status: 'BYPASS', source: 'x-cache' },
  {
    name: 'fastly no shielding',
    headers: fastly('HIT', { 'x-served-by': 'cache-syd10143-SYD', 'x-cache-hits': '7' }),
    status: 'HIT',
    source: 'x-cache',
  },
  {
    name: 'fastly HIT-CLUSTER state',
    headers: fastly('MISS, HIT-CLUSTER'),
    status: 'HIT',
    source: 'x-cache',
  },
  { name: 'fastly HIT-STALE state', headers: fastly('HIT-STALE'), status: 'STALE', source: 'x-cache' },
  {
    name: 'varnish two ids',
    headers: { ...html, 'x-varnish': '32771 32768', age: '45', via: '1.1 varnish (Varnish/7.4)' },
    status: 'HIT',
    source: 'x-varnish',
  },
  {
    name: 'varnish one id',
    headers: { ...html, 'x-varnish': '32773', age: '0', via: '1.1 varnish (Varnish/7.4)' },
    status: 'MISS',
    source: 'x-varnish',
  },
  // CloudFront
  { name: 'cloudfront Hit', headers: cloudfront('Hit', { age: '61' }), status: 'HIT', source: 'x-cache' },
  { name: 'cloudfront Miss', headers: cloudfront('Miss'), status: 'MISS', source: 'x-cache' },
  {
    name: 'cloudfront RefreshHit',
    headers: cloudfront('RefreshHit'),
    status: 'REVALIDATED',
    source: 'x-cache',
  },
  {
    name: 'cloudfront Error',
    headers: cloudfront('Error', { age: '5' }),
    status: 'UNKNOWN',
    source: 'x-cache',
  },
  {
    name: 'cloudfront LambdaGeneratedResponse',
    headers: cloudfront('LambdaGeneratedResponse'),
    status: 'DYNAMIC',
    source: 'x-cache',
  },
  {
    name: 'cloudfront FunctionGeneratedResponse',
    headers: cloudfront('FunctionGeneratedResponse'),
    status: 'DYNAMIC',
    source: 'x-cache',
  },
  { name: 'cloudfront Redirect', headers: cloudfront('Redirect'), status: 'DYNAMIC', source: 'x-cache' },
  {
    name: 'cloudfront in front of Vercel: CloudFront decides',
    headers: { ...vercel('HIT'), ...cloudfront('Miss') },
    status: 'MISS',
    source: 'x-cache',
  },
  // Akamai (debug Pragma headers enabled)
  { name: 'akamai TCP_HIT', headers: akamai('TCP_HIT'), status: 'HIT', source: 'x-cache' },
  { name: 'akamai TCP_MEM_HIT', headers: akamai('TCP_MEM_HIT'), status: 'HIT', source: 'x-cache' },
  { name: 'akamai TCP_IMS_HIT', headers: akamai('TCP_IMS_HIT'), status: 'HIT', source: 'x-cache' },
  {
    name: 'akamai edge miss, parent hit',
    headers: akamai('TCP_MISS', 'TCP_HIT'),
    status: 'MISS',
    source: 'x-cache',
  },
  {
    name: 'akamai TCP_REFRESH_HIT',
    headers: akamai('TCP_REFRESH_HIT', 'TCP_REFRESH_HIT'),
    status: 'REVALIDATED',
    source: 'x-cache',
  },
  {
    name: 'akamai TCP_REFRESH_MISS',
    headers: akamai('TCP_REFRESH_MISS'),
    status: 'EXPIRED',
    source: 'x-cache',
  },
  {
    name: 'akamai TCP_REFRESH_FAIL_HIT',
    headers: akamai('TCP_REFRESH_FAIL_HIT'),
    status: 'STALE',
    source: 'x-cache',
  },
  { name: 'akamai TCP_COOKIE_DENY', headers: akamai('TCP_COOKIE_DENY'), status: 'BYPASS', source: 'x-cache' },
  {
    name: 'akamai TCP_MISS of an uncacheable object',
    headers: akamai('TCP_MISS', 'TCP_MISS', { 'x-check-cacheable': 'NO' }),
    status: 'BYPASS',
    source: 'x-cache',
  },
  {
    name: 'akamai only x-cache-remote',
    headers: akamai(undefined, 'TCP_HIT'),
    status: 'HIT',
    source: 'x-cache-remote',
  },
  // Vercel
  { name: 'vercel HIT', headers: vercel('HIT'), status: 'HIT', source: 'x-vercel-cache' },
  { name: 'vercel MISS', headers: vercel('MISS'), status: 'MISS', source: 'x-vercel-cache' },
  { name: 'vercel STALE', headers: vercel('STALE'), status: 'STALE', source: 'x-vercel-cache' },
  { name: 'vercel PRERENDER', headers: vercel('PRERENDER'), status: 'HIT', source: 'x-vercel-cache' },
  {
    name: 'vercel REVALIDATED',
    headers: vercel('REVALIDATED'),
    status: 'REVALIDATED',
    source: 'x-vercel-cache',
  },
  { name: 'vercel BYPASS', headers: vercel('BYPASS'), status: 'BYPASS', source: 'x-vercel-cache' },
  // Netlify (RFC 9211)
  {
    name: 'netlify edge hit',
    headers: netlify('"Netlify Edge"; hit'),
    status: 'HIT',
    source: 'cache-status',
  },
  {
    name: 'netlify unquoted name',
    headers: netlify('Netlify Edge; hit'),
    status: 'HIT',
    source: 'cache-status',
  },
  {
    name: 'netlify durable stored, edge miss',
    headers: netlify('"Netlify Durable"; fwd=miss; stored, "Netlify Edge"; fwd=miss'),
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'netlify durable hit, edge miss',
    headers: netlify('"Next.js"; hit, "Netlify Durable"; hit; ttl=31535000, "Netlify Edge"; fwd=miss'),
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'netlify edge stale',
    headers: netlify('"Netlify Durable"; hit; ttl=200, "Netlify Edge"; fwd=stale'),
    status: 'EXPIRED',
    source: 'cache-status',
  },
  {
    name: 'netlify members out of order',
    headers: netlify('"Netlify Edge"; fwd=miss, "Netlify Durable"; hit; ttl=3600'),
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'netlify durable only',
    headers: netlify('"Netlify Durable"; hit'),
    status: 'HIT',
    source: 'cache-status',
  },
  // RFC 9211 examples and parameters
  {
    name: 'rfc hit',
    headers: { 'cache-status': 'ExampleCache; hit' },
    status: 'HIT',
    source: 'cache-status',
  },
  {
    name: 'rfc uri-miss stored',
    headers: { 'cache-status': 'ExampleCache; fwd=uri-miss; stored' },
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'rfc vary-miss',
    headers: { 'cache-status': 'ExampleCache; fwd=vary-miss; ttl=30' },
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'rfc stale revalidated',
    headers: { 'cache-status': 'ExampleCache; fwd=stale; fwd-status=304' },
    status: 'REVALIDATED',
    source: 'cache-status',
  },
  {
    name: 'rfc stale replaced',
    headers: { 'cache-status': 'ExampleCache; fwd=stale; fwd-status=200; stored' },
    status: 'EXPIRED',
    source: 'cache-status',
  },
  {
    name: 'rfc client conditional on a miss is not a revalidation',
    headers: { 'cache-status': 'ExampleCache; fwd=miss; fwd-status=304' },
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'rfc hit served stale',
    headers: { 'cache-status': 'ExampleCache; hit; ttl=-412' },
    status: 'STALE',
    source: 'cache-status',
  },
  {
    name: 'rfc bypass',
    headers: { 'cache-status': 'ExampleCache; fwd=bypass' },
    status: 'BYPASS',
    source: 'cache-status',
  },
  {
    name: 'rfc method',
    headers: { 'cache-status': 'ExampleCache; fwd=method' },
    status: 'BYPASS',
    source: 'cache-status',
  },
  {
    name: 'rfc request',
    headers: { 'cache-status': 'ExampleCache; fwd=request' },
    status: 'BYPASS',
    source: 'cache-status',
  },
  {
    name: 'rfc two caches, last is nearest the user',
    headers: { 'cache-status': 'OriginCache; hit; ttl=1100, "CDN Company Here"; fwd=uri-miss' },
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'rfc quoted name with comma and escaped quote',
    headers: { 'cache-status': 'Origin; fwd=miss, "Edge, \\"Sydney\\""; hit' },
    status: 'HIT',
    source: 'cache-status',
  },
  {
    name: 'rfc detail string holding separators',
    headers: { 'cache-status': 'Edge; hit, Browser; fwd=miss; detail="no-store, private; max-age=0"' },
    status: 'MISS',
    source: 'cache-status',
  },
  {
    name: 'rfc member without hit or fwd falls through to Age',
    headers: { 'cache-status': 'ExampleCache; ttl=30', age: '12' },
    status: 'HIT',
    source: 'age',
  },
  // Fallbacks
  {
    name: 'Age only, positive',
    headers: { ...html, server: 'nginx', age: '120' },
    status: 'HIT',
    source: 'age',
  },
  {
    name: 'Age only, zero',
    headers: { ...html, server: 'nginx', age: '0' },
    status: 'UNKNOWN',
    source: 'none',
  },
  { name: 'no cache headers', headers: { ...html, server: 'nginx' }, status: 'UNKNOWN', source: 'none' },
  {
    name: 'unrecognised x-cache value falls through',
    headers: { 'x-cache': 'uncacheable-by-plugin', 'cache-status': '"Netlify Edge"; hit' },
    status: 'HIT',
    source: 'cache-status',
  },
];

describe('normaliseCacheStatus', () => {
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(normaliseCacheStatus(c.headers), { status: c.status, source: c.source });
    });
  }
});

describe('parseCacheStatusList', () => {
  test('parses names, booleans, tokens, integers and strings', () => {
    const members = parseCacheStatusList(
      '"Netlify Durable"; fwd=miss; stored; ttl=-3; collapsed=?0; key="a;b,c", Edge ; hit',
    );
    assert.equal(members.length, 2);
    assert.equal(members[0]?.name, 'Netlify Durable');
    assert.deepEqual(
      [...(members[0]?.params ?? [])],
      [
        ['fwd', 'miss'],
        ['stored', true],
        ['ttl', -3],
        ['collapsed', false],
        ['key', 'a;b,c'],
      ],
    );
    assert.equal(members[1]?.name, 'Edge');
    assert.deepEqual([...(members[1]?.params ?? [])], [['hit', true]]);
  });

  test('skips empty members', () => {
    assert.deepEqual(
      parseCacheStatusList(' , A; hit,, ').map((m) => m.name),
      ['A'],
    );
  });
});
