// Placeholder until the GoTrue-compatible endpoints land.
import { type AppDeps, router } from '../../api/context.ts';

export function gotrueRoutes(_deps: AppDeps) {
  return router();
}
