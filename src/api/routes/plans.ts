// Placeholder until this route group lands.
import { type AppDeps, router } from '../context.ts';

/** Public: GET /v1/plans. */
export function planRoutes(_deps: AppDeps) {
  return router();
}

/** Signed-in: GET /v1/usage. */
export function usageRoutes(_deps: AppDeps) {
  return router();
}
