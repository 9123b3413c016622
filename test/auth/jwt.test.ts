import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { type CryptoKey, exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import {
  apiKeys,
  createTokenVerifier,
  InvalidTokenError,
  signHs256,
  verifyApiKey,
} from '../../src/auth/jwt.ts';

const SECRET = 'jwt-test-secret-0123456789abcdef0123456789';
const claims = (extra: JWTPayload = {}): JWTPayload => ({
  sub: randomUUID(),
  role: 'authenticated',
  aud: 'authenticated',
  email: 'ada@example.test',
  ...extra,
});
const hs256 = createTokenVerifier({ secret: SECRET });

async function refused(verify: Promise<unknown>, message: RegExp) {
  await assert.rejects(verify, (err: unknown) => {
    assert.ok(err instanceof InvalidTokenError, String(err));
    assert.match(err.message, message);
    return true;
  });
}

// Asymmetric keys published the way Supabase publishes them, from a local JWKS endpoint.
const rsa = await generateKeyPair('RS256');
const ec = await generateKeyPair('ES256');
const jwks = {
  keys: [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ],
};
let jwksRequests = 0;
const server: Server = createServer((_req, res) => {
  jwksRequests++;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(jwks));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
const jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth/v1/.well-known/jwks.json`;

const signAsym = (alg: 'RS256' | 'ES256', kid: string, key: CryptoKey, payload = claims()) =>
  new SignJWT(payload)
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key);

test('a good HS256 token is accepted and its claims returned', async () => {
  const payload = claims({ session_id: randomUUID() });
  const verified = await hs256(await signHs256(SECRET, payload, 60));
  assert.equal(verified.sub, payload.sub);
  assert.equal(verified.email, 'ada@example.test');
  assert.equal(verified.session_id, payload.session_id);
});

test('expired, wrong-audience and wrong-issuer tokens are refused', async () => {
  const past = Math.floor(Date.now() / 1000) - 7200;
  await refused(hs256(await signHs256(SECRET, claims(), 60, past)), /expired/);
  await refused(hs256(await signHs256(SECRET, claims({ aud: 'somebody-else' }), 60)), /aud/);
  const withIssuer = createTokenVerifier({ secret: SECRET, issuer: 'https://auth.example.test' });
  await refused(withIssuer(await signHs256(SECRET, claims({ iss: 'https://evil.test' }), 60)), /iss/);
  await refused(withIssuer(await signHs256(SECRET, claims(), 60)), /iss/);
  const ok = await withIssuer(await signHs256(SECRET, claims({ iss: 'https://auth.example.test' }), 60));
  assert.equal(ok.iss, 'https://auth.example.test');
});

test('alg none and forged signatures are refused', async () => {
  const token = await signHs256(SECRET, claims(), 60);
  const [header, payload] = token.split('.');
  const none = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  await refused(hs256(`${none}.${payload}.`), /none|not accepted/);
  await refused(hs256(`${header}.${payload}.${'A'.repeat(43)}`), /signature/);
  await refused(
    hs256(await signHs256('another-secret-0123456789abcdef0123456789', claims(), 60)),
    /signature/,
  );
  await refused(hs256('not a jwt'), /not a JWT/);
});

test('tokens that are not a signed-in user’s are refused: anon and service keys, bad subjects', async () => {
  const keys = await apiKeys(SECRET);
  await refused(hs256(keys.anon), /aud|role/);
  await refused(hs256(await signHs256(SECRET, claims({ role: 'service_role' }), 60)), /role/);
  await refused(hs256(await signHs256(SECRET, claims({ role: 'anon' }), 60)), /role/);
  await refused(hs256(await signHs256(SECRET, claims({ sub: 'admin' }), 60)), /subject/);
  // The API keys are API keys only.
  assert.equal(await verifyApiKey(SECRET, keys.anon), 'anon');
  assert.equal(await verifyApiKey(SECRET, keys.serviceRole), 'service_role');
  await assert.rejects(verifyApiKey(SECRET, await signHs256(SECRET, claims(), 60)), InvalidTokenError);
  await assert.rejects(verifyApiKey('x'.repeat(40), keys.anon), InvalidTokenError);
});

test('real RS256 and ES256 tokens verify through a JWKS URL', async () => {
  const verify = createTokenVerifier({ jwksUrl });
  const rs = claims();
  assert.equal((await verify(await signAsym('RS256', 'rsa-1', rsa.privateKey, rs))).sub, rs.sub);
  const es = claims();
  assert.equal((await verify(await signAsym('ES256', 'ec-1', ec.privateKey, es))).sub, es.sub);
  assert.ok(jwksRequests >= 1, 'the key set was fetched from the server');
  // A key the set does not hold, and the right kid with the wrong key, are refused.
  const stranger = await generateKeyPair('RS256');
  await refused(verify(await signAsym('RS256', 'rsa-1', stranger.privateKey)), /signature|no key/);
  await refused(verify(await signAsym('RS256', 'unknown-kid', stranger.privateKey)), /no key|not valid/);
  // Asymmetric tokens still need the authenticated role and audience.
  await refused(verify(await signAsym('ES256', 'ec-1', ec.privateKey, claims({ role: 'anon' }))), /role/);
});

test('HS256 signed with the public key as the secret is refused (algorithm confusion)', async () => {
  const pem = await exportSPKI(rsa.publicKey);
  const confused = await new SignJWT(claims())
    .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1', typ: 'JWT' })
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode(pem));
  await refused(createTokenVerifier({ jwksUrl })(confused), /HS256 are not accepted/);
  // With a shared secret configured too, HS256 is checked against that secret only.
  await refused(createTokenVerifier({ jwksUrl, secret: SECRET })(confused), /signature/);
  // And an RS256 token is never checked against the shared secret.
  await refused(
    createTokenVerifier({ secret: SECRET })(await signAsym('RS256', 'rsa-1', rsa.privateKey)),
    /RS256 are not accepted/,
  );
});

test('a verifier needs a secret or a JWKS URL', () => {
  assert.throws(() => createTokenVerifier({}), /secret or a JWKS URL/);
});
