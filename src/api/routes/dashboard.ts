// Placeholder until this route group lands.
import { type AppDeps, router } from '../context.ts';

export function dashboardRoutes(_deps: AppDeps) {
  return router();
}
