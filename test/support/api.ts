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

/** Calls a route; a non-string body is sent as JSON. */
export type Caller = <T = any>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<ApiResult<T>>;

export interface TestUser {
  id: string;
  email: string;
  token: string;
  /** Calls the app as this user. */
  call: Caller;
}

export interface ApiFixture {
  db: TestDatabase;
  deps: AppDeps;
  app: ReturnType<typeof createApp>;
  /** A new user in auth.users with a valid access token. */
  user(email?: string): Promise<TestUser>;
  /** An organisation `owner` created through the API, with the other users added in the given roles. */
  team(owner: TestUser, others?: Array<[TestUser, 'owner' | 'admin' | 'member']>): Promise<string>;
  /** An organisation with one user in each role, and an outsider who belongs to none of it. */
  crew(): Promise<{ org: string; owner: TestUser; admin: TestUser; member: TestUser; outsider: TestUser }>;
  /** A user's role in an organisation, read as the table owner (undefined: not a member). */
  roleIn(orgId: string, userId: string): Promise<string | undefined>;
  /** Calls the app with no credentials (or the headers given). */
  call: Caller;
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
    const sessionId = randomUUID();
    await db.sql`
      insert into auth.users (id, aud, role, email, email_confirmed_at, created_at, updated_at)
      values (${id}, 'authenticated', 'authenticated', ${email}, now(), now(), now())`;
    // /v1 accepts a token that names a session only while that session exists.
    await db.sql`insert into auth.sessions (id, user_id, created_at, updated_at)
                 values (${sessionId}, ${id}, now(), now())`;
    const token = await signHs256(
      TEST_JWT_SECRET,
      { sub: id, role: 'authenticated', aud: 'authenticated', email, session_id: sessionId },
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

  const team = async (owner: TestUser, others: Array<[TestUser, 'owner' | 'admin' | 'member']> = []) => {
    const res = await owner.call('POST', '/v1/organisations', { name: `Team ${randomUUID().slice(0, 6)}` });
    if (res.status !== 201) throw new Error(`creating an organisation failed: ${JSON.stringify(res.body)}`);
    for (const [member, role] of others) {
      await db.sql`insert into organisation_members (organisation_id, user_id, role)
                   values (${res.body.id}, ${member.id}, ${role})`;
    }
    return res.body.id as string;
  };

  const roleIn = async (orgId: string, userId: string) =>
    (
      await db.sql<{ role: string }[]>`
        select role from organisation_members where organisation_id = ${orgId} and user_id = ${userId}`
    )[0]?.role;

  const crew = async () => {
    const [owner, admin, member, outsider] = await Promise.all([user(), user(), user(), user()]);
    const org = await team(owner, [
      [admin, 'admin'],
      [member, 'member'],
    ]);
    return { org, owner, admin, member, outsider };
  };

  return { db, deps, app, user, call, team, crew, roleIn };
}
