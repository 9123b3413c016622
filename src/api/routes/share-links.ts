// Placeholder until this route group lands.
import { type AppDeps, router } from '../context.ts';

export function shareLinkRoutes(_deps: AppDeps) {
  return router();
}

export function sharedRoutes(_deps: AppDeps) {
  return router();
}
