// An in-process API on this file's own database, plus signed-in users: each user is a real auth.users row
// with an HS256 access token shaped as Supabase's, and helpers to call routes with it via app.request().
import { randomUUID } from 'node:crypto';
import { createApp } from '../../src/api/app.ts';
import type { AppDeps } from '../../src/api/context.ts';
import { createTokenVerifier, signHs256 } from '../../src/auth/jwt.ts';
import { type TestDatabase, testDatabase } from './db.ts';

export const TEST_JWT_SECRET = 'bbb-test-secret-0123456789abcdef0123456789';

export interface ApiResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export interface TestUser {
  id: string;
  email: string;
  token: string;
  /** Calls the app as this user; a non-string body is sent as JSON. */
  call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResult<T>>;
}

export interface ApiFixture {
  db: TestDatabase;
  deps: AppDeps;
  app: ReturnType<typeof createApp>;
  /** A new user in auth.users with a valid access token. */
  user(email?: string): Promise<TestUser>;
  /** Calls the app with no credentials (or the headers given). */
  call<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResult<T>>;
}

export async function apiFixture(overrides: Partial<AppDeps> = {}): Promise<ApiFixture> {
  const db = await testDatabase();
  const deps: AppDeps = {
    sql: db.sql,
    verifyToken: createTokenVerifier({ secret: TEST_JWT_SECRET }),
    jwtSecret: TEST_JWT_SECRET,
    jwtExpirySeconds: 3600,
    authServer: true,
    loginRateLimit: 1000,
    bodyLimitBytes: 64 * 1024,
    ...overrides,
  };
  const app = createApp(deps);

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    }
    const res = await app.request(path, init);
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed as any };
  };

  const user = async (email = `${randomUUID().slice(0, 8)}@example.test`): Promise<TestUser> => {
    const id = randomUUID();
    await db.sql`
      insert into auth.users (id, aud, role, email, email_confirmed_at, created_at, updated_at)
      values (${id}, 'authenticated', 'authenticated', ${email}, now(), now(), now())`;
    const token = await signHs256(
      TEST_JWT_SECRET,
      { sub: id, role: 'authenticated', aud: 'authenticated', email, session_id: randomUUID() },
      3600,
    );
    return {
      id,
      email,
      token,
      call: (method, path, body, headers = {}) =>
        call(method, path, body, { authorization: `Bearer ${token}`, ...headers }),
    };
  };

  return { db, deps, app, user, call };
}
