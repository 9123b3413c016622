import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { CrawlError } from '../../src/crawler/errors.ts';
import { closeFetchPool, fetchUrl } from '../../src/crawler/fetch.ts';
import {
  blockedRange,
  isBlockedAddress,
  type Resolver,
  resolveAllowed,
  SsrfPolicy,
  socketHost,
} from '../../src/crawler/ssrf.ts';
import { FixtureSite, startFixtureSite } from '../support/fixture-site.ts';

async function blocked(promise: Promise<unknown>): Promise<CrawlError> {
  let caught: unknown;
  await assert.rejects(promise, (err) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof CrawlError, `expected a CrawlError, got ${String(caught)}`);
  assert.equal(caught.code, 'ssrf_blocked', caught.message);
  assert.equal(caught.retryable, false);
  return caught;
}

/** A resolver that answers from a fixed table and counts its calls (no real DNS is ever consulted). */
function tableResolver(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolver = async (hostname: string) => {
    calls.push(hostname);
    const addresses = table[hostname] ?? [];
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return Object.assign(resolver, { calls });
}

describe('isBlockedAddress', () => {
  const blockedAddresses = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'],
    ['169.254.0.1', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['100.127.255.255', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['192.0.2.1', 'reserved'],
    ['198.51.100.7', 'reserved'],
    ['203.0.113.9', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::ffff:127.0.0.1', 'ipv4Mapped loopback (127.0.0.1)'],
    ['::ffff:7f00:1', 'ipv4Mapped loopback (127.0.0.1)'],
    ['::ffff:10.0.0.1', 'ipv4Mapped private (10.0.0.1)'],
    ['::ffff:169.254.169.254', 'ipv4Mapped linkLocal (169.254.169.254)'],
    ['::ffff:0:192.168.0.1', 'rfc6145 private (192.168.0.1)'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456:789a::1', 'uniqueLocal'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['fec0::1', 'deprecatedSiteLocal'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'teredo'],
    ['100::1', 'discard'],
    ['::127.0.0.1', 'reserved'],
    ['::8.8.8.8', 'reserved'],
    ['::7f00:1', 'reserved'],
    ['64:ff9b::7f00:1', 'nat64 loopback (127.0.0.1)'],
    ['64:ff9b::a9fe:a9fe', 'nat64 linkLocal (169.254.169.254)'],
    ['64:ff9b:1::808:808', 'nat64 local-use'],
    ['2002:7f00:1::1', '6to4 loopback (127.0.0.1)'],
    ['2002:c0a8:101::1', '6to4 private (192.168.1.1)'],
    ['not-an-ip', 'unparseable'],
    ['', 'unparseable'],
  ];
  for (const [ip, range] of blockedAddresses) {
    test(`blocks ${ip || '(empty)'} (${range})`, () => {
      assert.equal(isBlockedAddress(ip!), true);
      assert.equal(blockedRange(ip!), range);
    });
  }

  const publicAddresses = [
    '8.8.8.8',
    '1.1.1.1',
    '93.184.216.34',
    '11.0.0.1',
    '172.15.255.255',
    '172.32.0.1',
    '100.63.255.255',
    '100.128.0.1',
    '169.253.255.255',
    '192.167.255.255',
    '223.255.255.254',
    '2606:4700:4700::1111',
    '2001:4860:4860::8888',
    '2a00:1450:4009:81f::200e',
    '::ffff:8.8.8.8',
    '64:ff9b::808:808',
    '2002:808:808::1',
  ];
  test('allows public addresses, including v6 forms that embed a public v4', () => {
    for (const ip of publicAddresses) assert.equal(isBlockedAddress(ip), false, ip);
  });
});

describe('SsrfPolicy', () => {
  test('allowPrivateNetworks opens everything', () => {
    const policy = new SsrfPolicy({ allowPrivateNetworks: true });
    for (const ip of ['127.0.0.1', '10.1.2.3', '::1', '169.254.169.254'])
      assert.equal(policy.allows(ip), true);
  });

  test('allowAddresses exempts exactly the listed ranges, including their v4-mapped form', () => {
    const policy = new SsrfPolicy({ allowAddresses: ['10.0.5.0/24', '127.0.0.1'] });
    assert.equal(policy.allows('10.0.5.77'), true);
    assert.equal(policy.allows('::ffff:10.0.5.77'), true);
    assert.equal(policy.allows('127.0.0.1'), true);
    assert.equal(policy.allows('10.0.6.1'), false);
    assert.equal(policy.allows('127.0.0.2'), false);
    assert.equal(policy.allows('::1'), false);
    assert.throws(() => new SsrfPolicy({ allowAddresses: ['intranet'] }), /not an IP address or CIDR/);
  });

  test('policies differ in key when they differ in effect', () => {
    const keys = new Set(
      [
        new SsrfPolicy(),
        new SsrfPolicy({ allowPrivateNetworks: true }),
        new SsrfPolicy({ allowAddresses: ['::1'] }),
      ].map((p) => p.key),
    );
    assert.equal(keys.size, 3);
  });
});

describe('resolveAllowed', () => {
  const resolver = tableResolver({
    'mixed.test': ['10.0.0.1', '93.184.216.34', '::1', '2606:4700::1'],
    'private.test': ['192.168.0.10', 'fd00::10'],
    'empty.test': [],
  });

  test('keeps only the addresses the policy allows', async () => {
    const addresses = await resolveAllowed('mixed.test', new SsrfPolicy(), resolver);
    assert.deepEqual(
      addresses.map((a) => a.address),
      ['93.184.216.34', '2606:4700::1'],
    );
  });

  test('refuses a name with no allowed address, naming it', async () => {
    const err = await blocked(resolveAllowed('private.test', new SsrfPolicy(), resolver));
    assert.match(err.message, /private\.test \(192\.168\.0\.10\)/);
    const open = await resolveAllowed(
      'private.test',
      new SsrfPolicy({ allowPrivateNetworks: true }),
      resolver,
    );
    assert.equal(open.length, 2);
  });

  test('judges IP literals without asking the resolver', async () => {
    const before = resolver.calls.length;
    await blocked(resolveAllowed('[::1]', new SsrfPolicy(), resolver));
    assert.deepEqual(await resolveAllowed('8.8.8.8', new SsrfPolicy(), resolver), [
      { address: '8.8.8.8', family: 4 },
    ]);
    assert.equal(resolver.calls.length, before);
  });

  test('no answer at all is a DNS failure, not a block', async () => {
    await assert.rejects(resolveAllowed('empty.test', new SsrfPolicy(), resolver), { code: 'ENOTFOUND' });
  });
});

describe('fetchUrl SSRF guard', () => {
  let site: FixtureSite;
  let inner: FixtureSite;

  before(async () => {
    site = await startFixtureSite((s) => s.page('/', 'public page').page('/secret', 'secret'));
    // A second "internal" service on another loopback address, only reachable by a redirect.
    inner = await new FixtureSite().page('/admin', 'internal admin').start('127.0.0.2');
    site.route('/to-inner', (_req, res) => {
      res.writeHead(302, { location: inner.url('/admin') });
      res.end();
    });
    site.route('/to-inner-by-name', (_req, res) => {
      res.writeHead(302, { location: `http://intranet.test:${inner.port}/admin` });
      res.end();
    });
  });

  after(async () => {
    await closeFetchPool();
    await site.stop();
    await inner.stop();
  });

  test('IP-literal URLs for private targets are refused without connecting', async () => {
    const port = site.port;
    const urls = [
      `http://127.0.0.1:${port}/`,
      `http://127.1:${port}/`,
      `http://2130706433:${port}/`,
      `http://0x7f000001:${port}/`,
      `http://0177.0.0.1:${port}/`,
      `http://0.0.0.0:${port}/`,
      `http://[::1]:${port}/`,
      `http://[::ffff:127.0.0.1]:${port}/`,
      `http://[::]:${port}/`,
      'http://169.254.169.254/latest/meta-data/',
      'http://[fd00::1]/',
      'http://100.64.0.1/',
    ];
    for (const url of urls) {
      const err = await blocked(fetchUrl(url, { connectTimeoutMs: 200 }));
      // Reported as WHATWG URL normalises it (2130706433 → 127.0.0.1), naming the address refused.
      const normalised = new URL(url);
      assert.equal(err.url, normalised.href);
      assert.ok(err.message.includes(socketHost(normalised.hostname)), err.message);
    }
    assert.equal(site.requests.length, 0);
  });

  test('the message names the address and how to allow it', async () => {
    const err = await blocked(fetchUrl(site.url('/')));
    assert.match(err.message, /127\.0\.0\.1/);
    assert.match(err.message, /loopback/);
    assert.match(err.message, /allowPrivateNetworks/);
  });

  test('a hostname resolving to a private address is refused at connect', async () => {
    const resolver = tableResolver({ 'internal.test': ['127.0.0.1'] });
    const err = await blocked(fetchUrl(`http://internal.test:${site.port}/secret`, { resolver }));
    assert.match(err.message, /internal\.test \(127\.0\.0\.1\)/);
    assert.deepEqual(resolver.calls, ['internal.test']);
    assert.equal(site.requested('/secret').length, 0);
  });

  test('DNS rebinding: public when checked, private when connecting → still refused', async () => {
    let calls = 0;
    const resolver: Resolver = async () => {
      calls++;
      return [{ address: calls === 1 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    };
    // The early check (as job submission would do) sees the public answer and passes...
    const early = await resolveAllowed('rebind.test', new SsrfPolicy(), resolver);
    assert.deepEqual(
      early.map((a) => a.address),
      ['93.184.216.34'],
    );
    // ...but the connection resolves again and is judged on the address it would actually dial.
    await blocked(fetchUrl(`http://rebind.test:${site.port}/secret`, { resolver }));
    assert.equal(calls, 2);
    assert.equal(site.requested('/secret').length, 0);
  });

  test('of several answers only allowed ones are dialled', async () => {
    // A listener on the refused address (same port), so a dial to it would be seen rather than just fail.
    const dialled: string[] = [];
    const decoy = net.createServer((socket) => {
      dialled.push(socket.localAddress ?? '');
      socket.destroy();
    });
    decoy.listen(site.port, '127.0.0.2');
    await once(decoy, 'listening');
    try {
      const resolver = tableResolver({ 'mixed.test': ['127.0.0.2', '127.0.0.1'] });
      const result = await fetchUrl(`http://mixed.test:${site.port}/`, {
        resolver,
        allowAddresses: ['127.0.0.1'],
      });
      assert.equal(result.body.toString(), 'public page');
      assert.deepEqual(dialled, []);
    } finally {
      decoy.close();
    }
  });

  test('a redirect from an allowed origin to a private one is refused before it is requested', async () => {
    const options = { allowAddresses: ['127.0.0.1'] };
    await blocked(fetchUrl(site.url('/to-inner'), options));
    const resolver = tableResolver({ 'public.test': ['127.0.0.1'], 'intranet.test': ['127.0.0.2'] });
    await blocked(fetchUrl(`http://public.test:${site.port}/to-inner-by-name`, { ...options, resolver }));
    assert.deepEqual(resolver.calls, ['public.test', 'intranet.test']);
    assert.equal(site.requested('/to-inner').length, 1);
    assert.equal(site.requested('/to-inner-by-name').length, 1);
    assert.equal(inner.requests.length, 0, 'the private target never saw a request');
    // The same redirect is followed when private networks are allowed, so the refusal above was the guard.
    const open = await fetchUrl(site.url('/to-inner'), { allowPrivateNetworks: true });
    assert.equal(open.body.toString(), 'internal admin');
    assert.equal(inner.requests.length, 1);
  });

  test('a pooled connection opened with allowPrivateNetworks is never reused without it', async () => {
    const resolver = tableResolver({ 'pooled.test': ['127.0.0.1'] });
    const url = `http://pooled.test:${site.port}/?pooled`;
    const first = await fetchUrl(url, { resolver, allowPrivateNetworks: true });
    assert.equal(first.statusCode, 200);
    await blocked(fetchUrl(url, { resolver }));
    assert.equal(site.requested('/?pooled').length, 1);
  });

  test('allowPrivateNetworks: true reaches the loopback fixture', async () => {
    const result = await fetchUrl(site.url('/'), { allowPrivateNetworks: true });
    assert.equal(result.statusCode, 200);
    assert.equal(result.body.toString(), 'public page');
  });
});
