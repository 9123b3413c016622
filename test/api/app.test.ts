import assert from 'node:assert/strict';
import { test } from 'node:test';
import { apiFixture } from '../support/api.ts';

const api = await apiFixture();

test('/health answers and /health/ready checks the database', async () => {
  assert.deepEqual((await api.call('GET', '/health')).body, { status: 'ok' });
  const ready = await api.call('GET', '/health/ready');
  assert.equal(ready.status, 200);
  assert.deepEqual(ready.body, { status: 'ready' });
});

test('every response carries a request id; a well-formed caller id is kept, anything else replaced', async () => {
  const fresh = await api.call('GET', '/health');
  assert.match(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  const kept = await api.call('GET', '/health', undefined, { 'x-request-id': 'trace-abc-12345' });
  assert.equal(kept.headers.get('x-request-id'), 'trace-abc-12345');
  const replaced = await api.call('GET', '/health', undefined, { 'x-request-id': '<script>' });
  assert.notEqual(replaced.headers.get('x-request-id'), '<script>');
});

test('unknown routes get the error body with 404', async () => {
  const res = await api.call('GET', '/nope');
  assert.equal(res.status, 404);
  assert.equal(res.body.error.code, 'not_found');
});

test('signed-in routes refuse a missing, forged or alg:none token with 401', async () => {
  const none = await api.call('GET', '/v1/jobs');
  assert.equal(none.status, 401);
  assert.equal(none.body.error.code, 'unauthorized');
  const user = await api.user();
  const [h, p] = user.token.split('.');
  const forged = await api.call('GET', '/v1/jobs', undefined, { authorization: `Bearer ${h}.${p}.AAAA` });
  assert.equal(forged.status, 401);
  assert.equal(forged.body.error.code, 'invalid_token');
  const noneHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
  const unsigned = await api.call('GET', '/v1/jobs', undefined, {
    authorization: `Bearer ${noneHeader}.${p}.`,
  });
  assert.equal(unsigned.status, 401);
  assert.equal(unsigned.headers.get('www-authenticate'), 'Bearer');
});

test('the OpenAPI document is served without a token', async () => {
  const res = await api.call('GET', '/v1/openapi.json');
  assert.equal(res.status, 200);
  assert.equal(res.body.openapi, '3.1.0');
  assert.ok(res.body.paths['/health/ready']);
});

test('a browser preflight from another origin is answered without credentials', async () => {
  const res = await api.app.request('/auth/v1/token?grant_type=password', {
    method: 'OPTIONS',
    headers: {
      origin: 'https://dashboard.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'apikey, content-type, x-client-info',
    },
  });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-headers') ?? '', /apikey/);
});

test('a body over the limit is refused with 413 before it is read', async () => {
  const res = await api.call('POST', '/health', 'x'.repeat(70 * 1024), { 'content-type': 'text/plain' });
  assert.equal(res.status, 413);
  assert.equal(res.body.error.code, 'payload_too_large');
});
