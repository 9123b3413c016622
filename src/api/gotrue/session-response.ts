// The access token and session body GoTrue returns from /signup and /token: an HS256 JWT with Supabase's
// claims (what RLS policies read through auth.jwt()), plus the refresh token and the user.

import type { SessionRow } from '../../auth/gotrue/sessions.ts';
import { type UserJson, type UserRow, userJson } from '../../auth/gotrue/users.ts';
import { signHs256 } from '../../auth/jwt.ts';
import type { AppDeps } from '../context.ts';

export interface SessionJson {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  expires_at: number;
  refresh_token: string;
  user: UserJson;
}

export async function sessionResponse(
  deps: AppDeps,
  user: UserRow,
  session: SessionRow,
  refreshToken: string,
  nowMs: number,
): Promise<SessionJson> {
  const iat = Math.floor(nowMs / 1000);
  const json = userJson(user);
  const accessToken = await signHs256(
    deps.jwtSecret!,
    {
      iss: deps.jwtIssuer ?? 'bbb',
      sub: user.id,
      aud: 'authenticated',
      email: json.email,
      phone: json.phone,
      app_metadata: json.app_metadata,
      user_metadata: json.user_metadata,
      role: 'authenticated',
      aal: 'aal1',
      // How and when this session signed in; a refresh keeps the original sign-in time, as GoTrue does.
      amr: [{ method: 'password', timestamp: Math.floor((session.created_at?.getTime() ?? nowMs) / 1000) }],
      session_id: session.id,
      is_anonymous: false,
    },
    deps.jwtExpirySeconds,
    iat,
  );
  return {
    access_token: accessToken,
    token_type: 'bearer',
    expires_in: deps.jwtExpirySeconds,
    expires_at: iat + deps.jwtExpirySeconds,
    refresh_token: refreshToken,
    user: json,
  };
}
