// Signed-in routes: the identity comes only from a verified Bearer JWT.
import type { MiddlewareHandler } from 'hono';
import type { AppDeps, AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

export function requireUser(deps: AppDeps): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match) {
      throw new ApiError(
        401,
        'unauthorized',
        'send `Authorization: Bearer <access token>` from a signed-in user',
      );
    }
    c.set('claims', await deps.verifyToken(match[1]!));
    await next();
  };
}
